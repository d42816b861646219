package dev.layercache.server.grpc;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.UnknownFieldSet;
import dev.layercache.api.v1.WriteBlobRequest;
import dev.layercache.api.v1.WriteHeader;
import dev.layercache.server.testing.Fuzz;
import io.grpc.internal.CompositeReadableBuffer;
import io.grpc.internal.ForwardingReadableBuffer;
import io.grpc.internal.ReadableBuffer;
import io.grpc.internal.ReadableBuffers;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * {@link WriteChunk}'s parse against protobuf's own, over grpc-java's real transport stream
 * ({@code ReadableBuffers.openStream} of a composite of the received pieces, as the Netty
 * transport hands messages over): same fields for any split of the bytes, unknown fields
 * skipped, malformed input refused, and the data read from the transport's buffers, which the
 * parse neither copies nor releases (grpc-java does, after the handler).
 */
class WriteChunkTest {

    @Test
    void parsesLikeProtobufForAnySplitOfTheBytes() {
        int tries = Fuzz.forAll(20261128L, 400, WriteChunkTest::randomCase, c -> {
            AtomicInteger closed = new AtomicInteger();
            InputStream stream = transportStream(c.wire, c.pieces, closed);
            WriteChunk chunk = WriteChunk.parse(stream);
            WriteBlobRequest expected = WriteBlobRequest.parseFrom(c.wire);
            assertEquals(expected.hasHeader() ? expected.getHeader() : null, chunk.header());
            assertEquals(expected.getWriteOffset(), chunk.writeOffset());
            assertEquals(expected.getFinishWrite(), chunk.finishWrite());
            assertEquals(expected.getData().size(), chunk.dataSize());
            assertArrayEquals(expected.getData().toByteArray(), concat(chunk));
            assertEquals(0, closed.get(), "no buffer may be released while the chunk is in use");
            stream.close();
            assertEquals(c.pieces, closed.get(), "the transport releases every buffer once, as it closes the stream");
        });
        assertEquals(400, tries);
    }

    @Test
    void dataIsReadFromTheTransportsBuffers() throws Exception {
        byte[] data = new byte[300_000];
        new java.util.Random(3).nextBytes(data);
        byte[] wire = WriteBlobRequest.newBuilder().setWriteOffset(5).setData(ByteString.copyFrom(data)).build()
                .toByteArray();
        AtomicInteger reads = new AtomicInteger();
        InputStream transport = transportStream(wire, 7, new AtomicInteger(), reads);
        WriteChunk chunk = WriteChunk.parse(transport);
        assertEquals(0, reads.get(), "the parse skips over the data instead of copying it");
        assertTrue(chunk.data() == transport, "the data comes straight from the transport's stream");
        assertArrayEquals(data, concat(chunk));
        assertTrue(reads.get() >= data.length, "the data was read once, from the transport's buffers");
    }

    @Test
    void lastValueWinsAndHeadersMerge() throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        CodedOutputStream o = CodedOutputStream.newInstance(out);
        o.writeMessage(1, WriteHeader.newBuilder().setNamespace("a/b").setSize(9).build());
        o.writeBytes(3, ByteString.copyFromUtf8("first"));
        o.writeInt64(2, 1);
        o.writeMessage(1, WriteHeader.newBuilder().setDigest("sha256:00").build());
        o.writeBytes(3, ByteString.copyFromUtf8("second"));
        o.writeInt64(2, 2);
        o.writeBool(4, true);
        o.writeBool(4, false);
        o.flush();
        byte[] wire = out.toByteArray();
        WriteChunk chunk = WriteChunk.parse(transportStream(wire, 3, new AtomicInteger()));
        WriteBlobRequest expected = WriteBlobRequest.parseFrom(wire);
        assertEquals(expected.getHeader(), chunk.header());
        assertEquals("a/b", chunk.header().getNamespace());
        assertEquals("sha256:00", chunk.header().getDigest());
        assertEquals(2, chunk.writeOffset());
        assertEquals("second", new String(concat(chunk)));
        assertEquals(false, chunk.finishWrite());
    }

    @Test
    void streamsThatCannotBeReadTwiceAreReadIntoAnArray() throws Exception {
        byte[] wire = WriteBlobRequest.newBuilder().setData(ByteString.copyFromUtf8("in-process")).build()
                .toByteArray();
        InputStream once = new java.io.FilterInputStream(new ByteArrayInputStream(wire)) {
            @Override
            public boolean markSupported() {
                return false;
            }
        };
        WriteChunk chunk = WriteChunk.parse(once);
        assertNull(chunk.header());
        assertEquals("in-process", new String(concat(chunk)));
    }

    @Test
    void malformedMessagesAreRefused() {
        byte[] good = WriteBlobRequest.newBuilder().setWriteOffset(300).setData(ByteString.copyFromUtf8("abcdef"))
                .build().toByteArray();
        byte[][] bad = {
            java.util.Arrays.copyOf(good, good.length - 2),            // data cut short
            {0x10},                                                       // varint cut short
            {0x10, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff,
                (byte) 0xff, (byte) 0xff, (byte) 0xff, 0x01},             // varint of 11 bytes
            {0x00, 0x01},                                                 // field number 0
            {0x1b, 0x00},                                                 // wire type 3 (group) on field 3
            {0x1a, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, 0x0f}, // length past the end
            {0x0a, 0x02, 0x0a},                                           // header cut short
        };
        for (byte[] wire : bad) {
            int pieces = Math.max(1, Math.min(3, wire.length));
            assertThrows(InvalidProtocolBufferException.class,
                    () -> WriteChunk.parse(transportStream(wire, pieces, new AtomicInteger())), () -> hex(wire));
        }
    }

    private record Case(byte[] wire, int pieces) {
        @Override
        public String toString() {
            return hex(wire) + " in " + pieces + " pieces";
        }
    }

    private static Case randomCase(Fuzz f) {
        WriteBlobRequest.Builder b = WriteBlobRequest.newBuilder();
        if (f.chance(0.5)) {
            b.setHeader(WriteHeader.newBuilder().setNamespace(f.string("abc/", 0, 20)).setDigest(f.string("0123", 0, 9))
                    .setSize(f.edgyLong()).setUploadId(f.string("xyz", 0, 5)));
        }
        if (f.chance(0.7)) {
            b.setWriteOffset(f.edgyLong());
        }
        if (f.chance(0.8)) {
            b.setData(ByteString.copyFrom(f.bytes(f.pick(10, 1000, 70_000))));
        }
        b.setFinishWrite(f.chance(0.3));
        if (f.chance(0.3)) {
            b.setUnknownFields(UnknownFieldSet.newBuilder()
                    .addField(f.between(5, 1000), UnknownFieldSet.Field.newBuilder().addVarint(f.edgyLong())
                            .addFixed32(f.between(0, 1 << 20)).addFixed64(f.edgyLong())
                            .addLengthDelimited(ByteString.copyFrom(f.bytes(40))).build())
                    .build());
        }
        byte[] wire = b.build().toByteArray();
        return new Case(wire, Math.max(1, Math.min(wire.length, f.between(1, 12))));
    }

    static InputStream transportStream(byte[] wire, int pieces, AtomicInteger closed) {
        return transportStream(wire, pieces, closed, new AtomicInteger());
    }

    /**
     * The message as grpc-java's transport hands it over: a composite of {@code pieces} received
     * buffers, opened as a stream; {@code closed} counts buffers released, {@code copied} bytes
     * copied out of them.
     */
    static InputStream transportStream(byte[] wire, int pieces, AtomicInteger closed, AtomicInteger copied) {
        CompositeReadableBuffer composite = new CompositeReadableBuffer();
        int at = 0;
        for (int i = 0; i < pieces; i++) {
            int end = i == pieces - 1 ? wire.length : Math.min(wire.length, at + Math.max(1, wire.length / pieces));
            ByteBuffer piece = ByteBuffer.allocateDirect(end - at).put(wire, at, end - at).flip();
            ReadableBuffer buffer = new ForwardingReadableBuffer(ReadableBuffers.wrap(piece)) {
                @Override
                public void readBytes(byte[] dest, int destOffset, int length) {
                    copied.addAndGet(length);
                    super.readBytes(dest, destOffset, length);
                }

                @Override
                public void readBytes(java.io.OutputStream dest, int length) throws java.io.IOException {
                    copied.addAndGet(length);
                    super.readBytes(dest, length);
                }

                @Override
                public void close() {
                    closed.incrementAndGet(); // a second release of a pooled buffer would be a bug
                }
            };
            composite.addBuffer(buffer);
            at = end;
        }
        InputStream stream = ReadableBuffers.openStream(composite, true);
        assertTrue(stream.markSupported() && stream instanceof io.grpc.KnownLength,
                "the transport's stream can be read twice and knows its length");
        return stream;
    }

    private static byte[] concat(WriteChunk chunk) throws java.io.IOException {
        return chunk.data().readNBytes(chunk.dataSize());
    }

    private static String hex(byte[] b) {
        return java.util.HexFormat.of().formatHex(b, 0, Math.min(b.length, 64));
    }
}
