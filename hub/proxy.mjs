// configurable-http-proxy, started by JupyterHub, with one fix: a request whose path is not valid
// percent-encoded UTF-8 (an overlong "%c0%ae", a lone "%ff") gets a 400 with a JSON error.
// The proxy itself decodes every path to route it, and its decodeURIComponent throws on such a
// path; it then answers 500 with the hub's HTML error page for what is the client's mistake.
//
// usage: node hub/proxy.mjs <path of configurable-http-proxy's bin script> [its arguments...]
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const bin = fs.realpathSync(process.argv[2]);
process.argv.splice(2, 1); // the proxy's own command line parser sees only its arguments
const lib = path.join(path.dirname(bin), "..", "lib", "configproxy.js");
const { default: ConfigurableProxy } = await import(pathToFileURL(lib).href);

function malformed(url) {
  try {
    decodeURIComponent(new URL(url, "http://localhost").pathname);
    return false;
  } catch (e) {
    if (e instanceof URIError || e instanceof TypeError) return true;
    throw e;
  }
}

const handleProxy = ConfigurableProxy.prototype.handleProxy;
ConfigurableProxy.prototype.handleProxy = function (kind, req, res, ...rest) {
  if (!malformed(req.url)) return handleProxy.call(this, kind, req, res, ...rest);
  this.log.warn("400 %s: the path is not valid percent-encoded UTF-8", req.method);
  const body = JSON.stringify({ error: "the URL path is not valid percent-encoded UTF-8" });
  if (kind === "ws") {
    // res is the socket of a websocket upgrade
    res.end(`HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  } else {
    res.writeHead(400, { "Content-Type": "application/json; charset=utf-8" });
    res.end(body);
  }
  return Promise.resolve();
};

await import(pathToFileURL(bin).href);
