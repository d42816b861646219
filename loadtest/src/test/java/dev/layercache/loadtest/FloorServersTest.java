package dev.layercache.loadtest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.api.v1.BlobsGrpc;
import dev.layercache.api.v1.ReadBlobRequest;
import dev.layercache.api.v1.ReadBlobResponse;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Iterator;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The two Java ceilings side-by-side.sh measures next to layercache: the bare Netty server answers
 * as layercache answers a 4 KiB blob's HEAD, on kept-alive connections; the bare grpc-java server
 * streams exactly the bytes asked for, in 1 MiB messages, the first carrying the size.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class FloorServersTest {
    @Test
    void theHttpFloorAnswersAsLayercacheAnswersABlobsHead() throws Exception {
        try (HttpFloorServer.Running server = HttpFloorServer.start(0, 2)) {
            HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
            URI blob = URI.create("http://127.0.0.1:" + server.port() + "/v2/bench/wrk/blobs/" + HttpFloorServer.DIGEST);
            HttpResponse<byte[]> head = client.send(HttpRequest.newBuilder(blob)
                    .method("HEAD", HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofByteArray());
            assertEquals(200, head.statusCode());
            assertEquals(HttpFloorServer.DIGEST, head.headers().firstValue("Docker-Content-Digest").orElseThrow());
            assertEquals("4096", head.headers().firstValue("Content-Length").orElseThrow());
            assertEquals("registry/2.0", head.headers().firstValue("Docker-Distribution-Api-Version").orElseThrow());
            assertEquals(0, head.body().length);
            HttpResponse<byte[]> get = client.send(HttpRequest.newBuilder(blob).build(),
                    HttpResponse.BodyHandlers.ofByteArray());
            assertEquals(HttpFloorServer.BLOB_BYTES, get.body().length);
        }
    }

    @Test
    void theHttpFloorKeepsTheConnectionForTheNextRequest() throws Exception {
        try (HttpFloorServer.Running server = HttpFloorServer.start(0, 1);
             Socket socket = new Socket("127.0.0.1", server.port())) {
            socket.setSoTimeout(10_000);
            OutputStream out = socket.getOutputStream();
            byte[] request = "HEAD /x HTTP/1.1\r\nHost: a\r\n\r\n".getBytes(StandardCharsets.US_ASCII);
            out.write(request);
            out.write(request); // pipelined: both answered on the one connection
            out.flush();
            InputStream in = socket.getInputStream();
            String answers = "";
            byte[] buf = new byte[4096];
            while (answers.split("HTTP/1.1 200 OK", -1).length - 1 < 2) {
                int n = in.read(buf);
                assertTrue(n > 0, "the connection closed after: " + answers);
                answers += new String(buf, 0, n, StandardCharsets.US_ASCII);
            }
            assertTrue(answers.endsWith("\r\n\r\n"), "no body after a HEAD: " + answers);
        }
    }

    @Test
    void theGrpcFloorStreamsExactlyTheBytesAskedFor() throws Exception {
        io.grpc.Server server = GrpcFloorServer.start(0);
        ManagedChannel channel = NettyChannelBuilder.forTarget("127.0.0.1:" + server.getPort(),
                InsecureChannelCredentials.create()).maxInboundMessageSize(16 << 20).build();
        try {
            long size = (3L << 20) + 5;
            ReadBlobRequest request = ReadBlobRequest.newBuilder().setNamespace("bench/x")
                    .setDigest("sha256:" + "0".repeat(64)).setLimit(size).build();
            assertEquals(size, BlobStreams.read(channel, request, new AtomicLong()));
            Iterator<ReadBlobResponse> messages = BlobsGrpc.newBlockingStub(channel).readBlob(request);
            ReadBlobResponse first = messages.next();
            assertEquals(size, first.getSize());
            assertEquals(GrpcFloorServer.MESSAGE, first.getData().size());
            int count = 1;
            long bytes = first.getData().size();
            while (messages.hasNext()) {
                ReadBlobResponse next = messages.next();
                assertEquals(0, next.getSize(), "only the first message says the size");
                bytes += next.getData().size();
                count++;
            }
            assertEquals(size, bytes);
            assertEquals(4, count, "three whole messages and the last 5 bytes");
            StatusRuntimeException refused = assertThrows(StatusRuntimeException.class, () -> BlobsGrpc
                    .newBlockingStub(channel).readBlob(request.toBuilder().setLimit(0).build()).next());
            assertEquals(Status.Code.INVALID_ARGUMENT, refused.getStatus().getCode());
        } finally {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            GrpcFloorServer.stop(server);
        }
    }
}
