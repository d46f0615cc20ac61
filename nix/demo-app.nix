# A stand-in tenant application: answers every request with the tenant's slug, on the unix
# socket the module gives it. The VM test uses it, and the placeholder hosts run it until the
# operator sets services.saasTenants.app to the real application.
{ writeScriptBin, python3 }:
writeScriptBin "tenant-demo-app" ''
  #!${python3}/bin/python3
  import argparse
  import http.server
  import os
  import pathlib
  import socketserver

  parser = argparse.ArgumentParser()
  parser.add_argument("--socket", required=True)
  parser.add_argument("--state-directory", required=True)
  args = parser.parse_args()
  slug = os.environ.get("TENANT_SLUG", "unknown")
  pathlib.Path(args.state_directory, "started").write_text("ok\n")


  class Handler(http.server.BaseHTTPRequestHandler):
      def do_GET(self):
          body = f"hello from {slug}\n".encode()
          self.send_response(200)
          self.send_header("Content-Type", "text/plain")
          self.send_header("Content-Length", str(len(body)))
          self.end_headers()
          self.wfile.write(body)

      def address_string(self):
          return "unix"


  class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
      daemon_threads = True


  if os.path.exists(args.socket):
      os.unlink(args.socket)
  with Server(args.socket, Handler) as server:
      server.serve_forever()
''
