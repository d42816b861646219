package dev.layercache.client.internal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.google.protobuf.ByteString;
import dev.layercache.api.v1.ReadBlobResponse;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.internal.CompositeReadableBuffer;
import io.grpc.internal.ReadableBuffers;
import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * ReadBlob responses parsed as the client parses them, from grpc-java's transport stream (a
 * composite of the received pieces): the same message for any split, and a stream that ends
 * before its length refused.
 */
class AliasingMarshallerTest {
    private final AliasingMarshaller<ReadBlobResponse> marshaller = new AliasingMarshaller<>(ReadBlobResponse.parser());

    @Test
    void parsesAnySplitOfTheBytesLikeProtobuf() {
        Random random = new Random(4);
        for (int i = 0; i < 50; i++) {
            byte[] data = new byte[random.nextInt(3) == 0 ? random.nextInt(100) : random.nextInt(1 << 21)];
            random.nextBytes(data);
            ReadBlobResponse message = ReadBlobResponse.newBuilder().setData(ByteString.copyFrom(data)).build();
            byte[] wire = message.toByteArray();
            ReadBlobResponse parsed = marshaller.parse(transportStream(wire, 1 + random.nextInt(40)));
            assertEquals(message, parsed);
            assertArrayEquals(data, parsed.getData().toByteArray());
        }
    }

    @Test
    void aStreamThatEndsEarlyIsAnError() {
        byte[] wire = ReadBlobResponse.newBuilder().setData(ByteString.copyFrom(new byte[1000])).build().toByteArray();
        InputStream claimsMore = new KnownLengthStream(wire, wire.length + 10);
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> marshaller.parse(claimsMore));
        assertEquals(Status.Code.INTERNAL, e.getStatus().getCode());
    }

    private static InputStream transportStream(byte[] wire, int pieces) {
        CompositeReadableBuffer composite = new CompositeReadableBuffer();
        int at = 0;
        for (int i = 0; i < pieces; i++) {
            int end = i == pieces - 1 ? wire.length : Math.min(wire.length, at + Math.max(1, wire.length / pieces));
            composite.addBuffer(ReadableBuffers.wrap(ByteBuffer.allocateDirect(end - at).put(wire, at, end - at).flip()));
            at = end;
        }
        return ReadableBuffers.openStream(composite, true);
    }

    /** A stream that declares more bytes than it has. */
    private static final class KnownLengthStream extends ByteArrayInputStream implements io.grpc.KnownLength {
        private final int declared;

        KnownLengthStream(byte[] bytes, int declared) {
            super(bytes);
            this.declared = declared;
        }

        @Override
        public synchronized int available() {
            return declared;
        }
    }
}
