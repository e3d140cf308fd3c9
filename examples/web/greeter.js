// Calls the rgrpc greeter (examples/src/bin/greeter-server.rs) from the browser with
// connect-web's gRPC-Web transport. `Greeter` and its messages are generated from
// proto/helloworld.proto by protoc-gen-es (`npm run build`).
import { createClient } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { Greeter } from "./gen/helloworld_pb.js";

// The server's address; ?server=URL overrides it.
const server = new URL(location.href).searchParams.get("server") ?? "http://127.0.0.1:50051";
document.querySelector("#server").textContent = server;

const greeter = createClient(Greeter, createGrpcWebTransport({ baseUrl: server }));

document.querySelector("#form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const reply = document.querySelector("#reply");
  try {
    const response = await greeter.sayHello({ name: document.querySelector("#name").value });
    reply.textContent = response.message;
  } catch (e) {
    reply.textContent = `failed: ${e.message}`;
  }
});
