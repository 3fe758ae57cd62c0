// A tiny application for the jvm runtime. `serve` answers HTTP on $WEB_BIND_IP:$WEB_BIND_PORT;
// `<name> [code]` greets, shows its heap limit and port, and exits with `code`.
import com.sun.net.httpserver.HttpServer;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;

public class Hello {
  public static void main(String[] args) throws Exception {
    String name = args.length > 0 ? args[0] : "nobody";
    long heap = Runtime.getRuntime().maxMemory() / (1024 * 1024);
    if (name.equals("serve")) {
      String ip = System.getenv().getOrDefault("WEB_BIND_IP", "127.0.0.1");
      int port = Integer.parseInt(System.getenv().getOrDefault("WEB_BIND_PORT", "8080"));
      HttpServer server = HttpServer.create(new InetSocketAddress(ip, port), 0);
      server.createContext("/", exchange -> {
        byte[] body = "hello from the jvm\n".getBytes(StandardCharsets.UTF_8);
        exchange.sendResponseHeaders(200, body.length);
        try (OutputStream out = exchange.getResponseBody()) {
          out.write(body);
        }
      });
      server.start();
      System.out.println("serving on " + ip + ":" + port + " with max heap MiB " + heap);
      return;
    }
    System.out.println("hello " + name + " from the jvm");
    System.out.println("max heap MiB " + heap);
    System.err.println("port " + System.getenv("WEB_BIND_PORT"));
    System.exit(args.length > 1 ? Integer.parseInt(args[1]) : 0);
  }
}
