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
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * ReadBlob responses parsed as the client parses them, from grpc-java's transport stream (a
 * composite of the received pieces): the same message for any split, a stream that ends before
 * its length refused, and each message's array reused once the message is closed.
 */
class PooledMarshallerTest {
    private final ArrayPool pool = new ArrayPool(4, 4 << 20);
    private final PooledMarshaller<ReadBlobResponse> marshaller =
            new PooledMarshaller<>(ReadBlobResponse.parser(), pool);

    @Test
    void parsesAnySplitOfTheBytesLikeProtobuf() {
        Random random = new Random(4);
        for (int i = 0; i < 50; i++) {
            byte[] data = new byte[random.nextInt(3) == 0 ? random.nextInt(100) : random.nextInt(1 << 21)];
            random.nextBytes(data);
            ReadBlobResponse message = ReadBlobResponse.newBuilder().setData(ByteString.copyFrom(data))
                    .setSize(random.nextInt(1 << 30)).build();
            byte[] wire = message.toByteArray();
            // Arrays come back from the pool larger than the message and full of the last one's bytes.
            try (PooledMessage<ReadBlobResponse> parsed = marshaller.parse(transportStream(wire, 1 + random.nextInt(40)))) {
                assertEquals(message, parsed.message());
                assertArrayEquals(data, parsed.message().getData().toByteArray());
            }
        }
    }

    @Test
    void aClosedMessagesArrayCarriesTheNextMessage() {
        byte[] first = new byte[1 << 20];
        Arrays.fill(first, (byte) 1);
        byte[] second = new byte[1 << 20];
        Arrays.fill(second, (byte) 2);
        PooledMessage<ReadBlobResponse> a = marshaller.parse(transportStream(wire(first), 3));
        ByteString aData = a.message().getData();
        a.close();
        a.close(); // a second close gives nothing back twice
        assertEquals(1, pool.size());
        try (PooledMessage<ReadBlobResponse> b = marshaller.parse(transportStream(wire(second), 5))) {
            assertEquals(0, pool.size());
            assertArrayEquals(second, b.message().getData().toByteArray());
            // The first message's data aliased the array the second was read into: no new array.
            assertArrayEquals(second, aData.toByteArray());
        }
        assertEquals(1, pool.size());
    }

    @Test
    void anOpenMessageKeepsItsBytes() {
        byte[] first = new byte[1000];
        Arrays.fill(first, (byte) 7);
        try (PooledMessage<ReadBlobResponse> a = marshaller.parse(transportStream(wire(first), 2));
             PooledMessage<ReadBlobResponse> b = marshaller.parse(transportStream(wire(new byte[1000]), 2))) {
            assertArrayEquals(first, a.message().getData().toByteArray());
            assertArrayEquals(new byte[1000], b.message().getData().toByteArray());
        }
        assertEquals(2, pool.size());
    }

    @Test
    void aStreamThatEndsEarlyIsAnErrorAndItsArrayIsKept() {
        byte[] wire = wire(new byte[1000]);
        InputStream claimsMore = new KnownLengthStream(wire, wire.length + 10);
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> marshaller.parse(claimsMore));
        assertEquals(Status.Code.INTERNAL, e.getStatus().getCode());
        assertEquals(1, pool.size());
    }

    @Test
    void malformedBytesAreAnError() {
        byte[] wire = wire(new byte[1000]);
        wire[1] = (byte) 0xff; // the data's length now claims more than the message has
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                () -> marshaller.parse(transportStream(wire, 2)));
        assertEquals(Status.Code.INTERNAL, e.getStatus().getCode());
    }

    private static byte[] wire(byte[] data) {
        return ReadBlobResponse.newBuilder().setData(ByteString.copyFrom(data)).build().toByteArray();
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
