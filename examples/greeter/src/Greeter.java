// greeter: a JVM service run container-less by Baton's `universal` runtime, written the way a
// ConductR bundle's service is: it binds where the agent says ($WEB_BIND_IP:$WEB_BIND_PORT) and
// signals readiness itself (PUT $CONDUCTR_STATUS/bundles/$BUNDLE_ID?isStarted=true) once it
// serves. The greeting comes from $GREETING, which a configuration bundle can set
// (examples/greeter-config). Only the JDK's own classes: no build tool, no dependencies.

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.HttpURLConnection;
import java.net.InetSocketAddress;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Executors;

public final class Greeter {
  private Greeter() {}

  private static String env(String name, String fallback) {
    String value = System.getenv(name);
    return value == null || value.isEmpty() ? fallback : value;
  }

  public static void main(String[] args) throws IOException {
    String ip = env("WEB_BIND_IP", "127.0.0.1");
    int port = Integer.parseInt(env("WEB_BIND_PORT", "8080"));
    String greeting = env("GREETING", "Hello");
    String bundle = env("BUNDLE_NAME", "greeter");

    HttpServer server = HttpServer.create(new InetSocketAddress(ip, port), 64);
    server.createContext("/", exchange -> respond(exchange, greeting, bundle));
    server.setExecutor(Executors.newFixedThreadPool(2));
    server.start();
    System.out.println("greeter listening on " + ip + ":" + port + ", greeting '" + greeting + "'");
    signalStarted();
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      System.out.println("greeter stopping");
      server.stop(1);
    }));
  }

  private static void respond(HttpExchange exchange, String greeting, String bundle)
      throws IOException {
    String path = exchange.getRequestURI().getPath();
    String who = path.length() > 1 ? path.substring(path.lastIndexOf('/') + 1) : "world";
    byte[] body = (greeting + ", " + who + "! (from " + bundle + " on the JVM "
        + System.getProperty("java.version") + ")\n").getBytes(StandardCharsets.UTF_8);
    exchange.getResponseHeaders().set("Content-Type", "text/plain; charset=utf-8");
    exchange.sendResponseHeaders(200, body.length);
    try (OutputStream out = exchange.getResponseBody()) {
      out.write(body);
    }
  }

  // ConductR's contract: any 2xx is success; without $CONDUCTR_STATUS (run by hand) there is no
  // agent to tell. Exits 70 on failure, as ConductR's client library did.
  private static void signalStarted() {
    String status = System.getenv("CONDUCTR_STATUS");
    if (status == null || status.isEmpty()) return;
    try {
      URL url = new URL(status + "/bundles/" + System.getenv("BUNDLE_ID") + "?isStarted=true");
      HttpURLConnection connection = (HttpURLConnection) url.openConnection();
      connection.setRequestMethod("PUT");
      connection.setConnectTimeout(5000);
      connection.setReadTimeout(5000);
      int code = connection.getResponseCode();
      connection.disconnect();
      if (code / 100 != 2) throw new IOException("the agent answered " + code);
      System.out.println("told the agent that this instance is started");
    } catch (IOException e) {
      System.err.println("could not signal readiness to " + status + ": " + e.getMessage());
      System.exit(70);
    }
  }
}
