package dev.layercache.server.grpc;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.UnsafeByteOperations;
import dev.layercache.api.v1.WriteBlobRequest;
import dev.layercache.api.v1.WriteHeader;
import io.grpc.KnownLength;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import java.io.ByteArrayInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;

/**
 * One {@code WriteBlobRequest} as the server receives it: the request's fields, with its
 * {@code data} left in the transport's buffers. protobuf-java would copy every message's data
 * into a fresh heap array (a megabyte per message, allocated, zeroed and copied, only to be
 * hashed and copied once more into the file's staging buffer). This parse reads the fields and
 * skips over the data, noting where it lies; {@link #data} then streams it from the transport's
 * buffers, in pieces small enough to be hashed and staged while they are in the CPU's cache.
 *
 * <p>The chunk reads the transport's stream, so it is valid only until the handler's
 * {@code onNext} returns, after which grpc-java releases the buffers.
 *
 * <p>Same wire format, same semantics as the generated parser: unknown fields are skipped, a
 * repeated {@code data} or scalar field keeps its last value, a repeated {@code header} merges.
 * Streams that cannot be re-read (the in-process transport's) are read into one array first.
 */
final class WriteChunk {
    private static final int HEADER = 1;
    private static final int WRITE_OFFSET = 2;
    private static final int DATA = 3;
    private static final int FINISH_WRITE = 4;

    private final WriteHeader header;
    private final long writeOffset;
    private final boolean finishWrite;
    /** The whole message, marked at its first byte. */
    private final InputStream message;
    private final int dataStart;
    private final int dataSize;

    private WriteChunk(WriteHeader header, long writeOffset, boolean finishWrite, InputStream message,
                       int dataStart, int dataSize) {
        this.header = header;
        this.writeOffset = writeOffset;
        this.finishWrite = finishWrite;
        this.message = message;
        this.dataStart = dataStart;
        this.dataSize = dataSize;
    }

    /** The header, or null when the message has none. */
    WriteHeader header() {
        return header;
    }

    long writeOffset() {
        return writeOffset;
    }

    int dataSize() {
        return dataSize;
    }

    /** A stream positioned at the data: read {@link #dataSize} bytes from it, once. */
    InputStream data() throws IOException {
        message.reset();
        message.skipNBytes(dataStart);
        return message;
    }

    boolean finishWrite() {
        return finishWrite;
    }

    /** WriteBlob's method with this parse of its requests. */
    static MethodDescriptor<WriteChunk, dev.layercache.api.v1.WriteBlobResponse> method(
            MethodDescriptor<WriteBlobRequest, dev.layercache.api.v1.WriteBlobResponse> generated) {
        return generated.toBuilder(MARSHALLER, generated.getResponseMarshaller()).build();
    }

    static final MethodDescriptor.Marshaller<WriteChunk> MARSHALLER = new MethodDescriptor.Marshaller<>() {
        @Override
        public InputStream stream(WriteChunk chunk) {
            try {
                return chunk.toRequest().toByteString().newInput();
            } catch (IOException e) {
                throw Status.INTERNAL.withDescription("cannot read the request").withCause(e).asRuntimeException();
            }
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
    WriteBlobRequest toRequest() throws IOException {
        WriteBlobRequest.Builder b = WriteBlobRequest.newBuilder().setWriteOffset(writeOffset)
                .setFinishWrite(finishWrite);
        if (header != null) {
            b.setHeader(header);
        }
        return b.setData(UnsafeByteOperations.unsafeWrap(data().readNBytes(dataSize))).build();
    }

    static WriteChunk parse(InputStream stream) throws IOException {
        InputStream message = stream.markSupported() && stream instanceof KnownLength ? stream
                : new ByteArrayInputStream(stream.readAllBytes());
        message.mark(Integer.MAX_VALUE);
        return parseFields(new Cursor(message, message.available()), message);
    }

    private static WriteChunk parseFields(Cursor in, InputStream message) throws IOException {
        WriteHeader.Builder header = null;
        long writeOffset = 0;
        int dataStart = 0;
        int dataSize = 0;
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
                dataSize = in.length();
                dataStart = in.position();
                in.skip(dataSize);
            } else if (field == FINISH_WRITE && wireType == 0) {
                finishWrite = in.varint() != 0;
            } else {
                in.skipField(wireType);
            }
        }
        return new WriteChunk(header == null ? null : header.build(), writeOffset, finishWrite, message, dataStart,
                dataSize);
    }

    private static InvalidProtocolBufferException malformed(String what) {
        return new InvalidProtocolBufferException("WriteBlobRequest: " + what);
    }

    /** Protobuf's wire primitives over a stream of known length. */
    private static final class Cursor {
        private final InputStream in;
        private final int length;
        private int position;

        Cursor(InputStream in, int length) {
            this.in = in;
            this.length = length;
        }

        boolean hasRemaining() {
            return position < length;
        }

        int position() {
            return position;
        }

        private void need(long n) throws InvalidProtocolBufferException {
            if (n > length - position) {
                throw malformed("the message ends inside a field");
            }
        }

        private byte next() throws IOException {
            need(1);
            int b = in.read();
            if (b < 0) {
                throw malformed("the message ends inside a field");
            }
            position++;
            return (byte) b;
        }

        long varint() throws IOException {
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

        int length() throws IOException {
            long n = varint();
            if (n < 0 || n > Integer.MAX_VALUE) {
                throw malformed("a length is negative or too large");
            }
            need(n);
            return (int) n;
        }

        /** Passes over {@code n} bytes without reading them (the transport only moves its position). */
        void skip(int n) throws IOException {
            need(n);
            try {
                in.skipNBytes(n);
            } catch (EOFException e) {
                throw malformed("the message ends inside a field");
            }
            position += n;
        }

        byte[] bytes(int n) throws IOException {
            need(n);
            byte[] out = in.readNBytes(n);
            if (out.length != n) {
                throw malformed("the message ends inside a field");
            }
            position += n;
            return out;
        }

        void skipField(int wireType) throws IOException {
            switch (wireType) {
                case 0 -> varint();
                case 1 -> skip(8);
                case 2 -> skip(length());
                case 5 -> skip(4);
                default -> throw malformed("invalid wire type " + wireType);
            }
        }
    }
}
