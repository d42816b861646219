package dev.layercache.server.grpc;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.UnsafeByteOperations;
import dev.layercache.api.v1.WriteBlobRequest;
import dev.layercache.api.v1.WriteHeader;
import io.grpc.Detachable;
import io.grpc.HasByteBuffer;
import io.grpc.KnownLength;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One {@code WriteBlobRequest} as the server receives it: the request's fields, with its
 * {@code data} left where the transport put it. protobuf-java would copy every message's data
 * into a fresh heap array (a megabyte per message, allocated, zeroed and copied, only to be
 * hashed and copied once more into the file's staging buffer); this parse
 * {@linkplain Detachable detaches} grpc-java's buffers and hands out read-only views of them.
 * The buffers go back to the transport's pool on {@link #release}, which the handler calls once
 * the bytes are hashed and on their way to the file.
 *
 * <p>Same wire format, same semantics as the generated parser: unknown fields are skipped, a
 * repeated {@code data} or scalar field keeps its last value, a repeated {@code header} merges.
 * Streams that cannot be detached (the in-process transport's) are read into one heap array.
 */
final class WriteChunk {
    private static final int HEADER = 1;
    private static final int WRITE_OFFSET = 2;
    private static final int DATA = 3;
    private static final int FINISH_WRITE = 4;

    private final WriteHeader header;
    private final long writeOffset;
    private final List<ByteBuffer> data;
    private final boolean finishWrite;
    private final InputStream owner;
    private final AtomicBoolean released = new AtomicBoolean();

    private WriteChunk(WriteHeader header, long writeOffset, List<ByteBuffer> data, boolean finishWrite,
                       InputStream owner) {
        this.header = header;
        this.writeOffset = writeOffset;
        this.data = data;
        this.finishWrite = finishWrite;
        this.owner = owner;
    }

    /** The header, or null when the message has none. */
    WriteHeader header() {
        return header;
    }

    long writeOffset() {
        return writeOffset;
    }

    /** The data, as read-only views valid until {@link #release}. */
    List<ByteBuffer> data() {
        return data;
    }

    long dataSize() {
        long n = 0;
        for (ByteBuffer b : data) {
            n += b.remaining();
        }
        return n;
    }

    boolean finishWrite() {
        return finishWrite;
    }

    /** Gives the data's buffers back; the views must not be read after. Idempotent. */
    void release() {
        if (released.getAndSet(true)) {
            return;
        }
        try {
            owner.close();
        } catch (IOException ignored) {
            // closing a detached transport stream only releases buffers
        }
    }

    /** WriteBlob's method with this parse of its requests. */
    static MethodDescriptor<WriteChunk, dev.layercache.api.v1.WriteBlobResponse> method(
            MethodDescriptor<WriteBlobRequest, dev.layercache.api.v1.WriteBlobResponse> generated) {
        return generated.toBuilder(MARSHALLER, generated.getResponseMarshaller()).build();
    }

    static final MethodDescriptor.Marshaller<WriteChunk> MARSHALLER = new MethodDescriptor.Marshaller<>() {
        @Override
        public InputStream stream(WriteChunk chunk) {
            return chunk.toRequest().toByteString().newInput();
        }

        @Override
        public WriteChunk parse(InputStream stream) {
            try {
                return WriteChunk.parse(stream);
            } catch (InvalidProtocolBufferException e) {
                throw Status.INTERNAL.withDescription("Invalid protobuf byte sequence").withCause(e)
                        .asRuntimeException();
            } catch (IOException e) {
                throw Status.INTERNAL.withDescription("cannot read the request").withCause(e).asRuntimeException();
            }
        }
    };

    /** The generated message with the same fields (copies the data: for tests and the marshaller's other half). */
    WriteBlobRequest toRequest() {
        WriteBlobRequest.Builder b = WriteBlobRequest.newBuilder().setWriteOffset(writeOffset)
                .setFinishWrite(finishWrite);
        if (header != null) {
            b.setHeader(header);
        }
        ByteBuffer all = ByteBuffer.allocate((int) dataSize());
        data.forEach(d -> all.put(d.duplicate()));
        return b.setData(UnsafeByteOperations.unsafeWrap(all.array())).build();
    }

    static WriteChunk parse(InputStream stream) throws IOException {
        InputStream owned;
        List<ByteBuffer> buffers = new ArrayList<>();
        if (stream instanceof Detachable detachable && stream instanceof HasByteBuffer hb && hb.byteBufferSupported()
                && stream.markSupported()) {
            owned = detachable.detach();
            // Marked, the stream keeps the buffers it has been read past until it is closed.
            owned.mark(Integer.MAX_VALUE);
            while (owned.available() > 0) {
                ByteBuffer b = ((HasByteBuffer) owned).getByteBuffer();
                if (b == null) { // a buffer without a ByteBuffer view: copy the rest
                    buffers.add(ByteBuffer.wrap(owned.readAllBytes()));
                    break;
                }
                buffers.add(b.asReadOnlyBuffer());
                long skipped = owned.skip(b.remaining());
                if (skipped != b.remaining()) {
                    throw new IOException("transport stream skipped " + skipped + " of " + b.remaining() + " bytes");
                }
            }
        } else {
            byte[] bytes = stream instanceof KnownLength ? stream.readNBytes(stream.available()) : stream.readAllBytes();
            owned = new ByteArrayInputStream(new byte[0]);
            buffers.add(ByteBuffer.wrap(bytes));
        }
        try {
            return parseFields(new Cursor(buffers), owned);
        } catch (IOException | RuntimeException e) {
            owned.close();
            throw e;
        }
    }

    private static WriteChunk parseFields(Cursor in, InputStream owner) throws IOException {
        WriteHeader.Builder header = null;
        long writeOffset = 0;
        List<ByteBuffer> data = List.of();
        boolean finishWrite = false;
        while (in.hasRemaining()) {
            long tag = in.varint();
            int field = (int) (tag >>> 3);
            int wireType = (int) (tag & 7);
            if (field == 0) {
                throw malformed("a field number is zero");
            }
            if (field == HEADER && wireType == 2) {
                byte[] bytes = in.bytes(in.length());
                header = header == null ? WriteHeader.newBuilder() : header;
                header.mergeFrom(bytes);
            } else if (field == WRITE_OFFSET && wireType == 0) {
                writeOffset = in.varint();
            } else if (field == DATA && wireType == 2) {
                data = in.slices(in.length());
            } else if (field == FINISH_WRITE && wireType == 0) {
                finishWrite = in.varint() != 0;
            } else {
                in.skipField(wireType);
            }
        }
        return new WriteChunk(header == null ? null : header.build(), writeOffset, data, finishWrite, owner);
    }

    private static InvalidProtocolBufferException malformed(String what) {
        return new InvalidProtocolBufferException("WriteBlobRequest: " + what);
    }

    /** Protobuf's wire primitives over a sequence of buffers. */
    private static final class Cursor {
        private final List<ByteBuffer> buffers;
        private int index;

        Cursor(List<ByteBuffer> buffers) {
            this.buffers = buffers;
            skipEmpty();
        }

        boolean hasRemaining() {
            return index < buffers.size();
        }

        private void skipEmpty() {
            while (index < buffers.size() && !buffers.get(index).hasRemaining()) {
                index++;
            }
        }

        private byte next() throws InvalidProtocolBufferException {
            if (!hasRemaining()) {
                throw malformed("the message ends inside a field");
            }
            byte b = buffers.get(index).get();
            skipEmpty();
            return b;
        }

        long varint() throws InvalidProtocolBufferException {
            long value = 0;
            for (int shift = 0; shift < 64; shift += 7) {
                byte b = next();
                value |= (long) (b & 0x7f) << shift;
                if (b >= 0) {
                    return value;
                }
            }
            throw malformed("a varint is longer than 10 bytes");
        }

        int length() throws InvalidProtocolBufferException {
            long n = varint();
            if (n < 0 || n > Integer.MAX_VALUE) {
                throw malformed("a length is negative or too large");
            }
            return (int) n;
        }

        /** The next {@code n} bytes as views of the buffers, without copying. */
        List<ByteBuffer> slices(int n) throws InvalidProtocolBufferException {
            List<ByteBuffer> out = new ArrayList<>(4);
            int left = n;
            while (left > 0) {
                if (!hasRemaining()) {
                    throw malformed("the message ends inside a field");
                }
                ByteBuffer b = buffers.get(index);
                int take = Math.min(left, b.remaining());
                out.add(b.slice(b.position(), take));
                b.position(b.position() + take);
                left -= take;
                skipEmpty();
            }
            return out;
        }

        byte[] bytes(int n) throws InvalidProtocolBufferException {
            ByteBuffer out = ByteBuffer.allocate(n);
            for (ByteBuffer b : slices(n)) {
                out.put(b);
            }
            return out.array();
        }

        void skipField(int wireType) throws InvalidProtocolBufferException {
            switch (wireType) {
                case 0 -> varint();
                case 1 -> slices(8);
                case 2 -> slices(length());
                case 5 -> slices(4);
                default -> throw malformed("invalid wire type " + wireType);
            }
        }
    }
}
