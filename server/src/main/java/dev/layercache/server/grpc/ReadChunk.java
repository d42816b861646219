package dev.layercache.server.grpc;

import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.layercache.api.v1.ReadBlobRequest;
import dev.layercache.api.v1.ReadBlobResponse;
import io.grpc.Drainable;
import io.grpc.KnownLength;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;

/**
 * One {@code ReadBlobResponse} as the server sends it: a region of the blob's file, read with one
 * positional read into a direct buffer kept by the sending thread, and written into grpc-java's
 * transport buffers from there.
 *
 * <p>The generated message needed the data in a heap array: the JDK reads a file into a heap
 * array through a direct buffer of its own and then copies it, and grpc-java copies the array once
 * more into the transport's buffers, each copy a megabyte per message from memory to memory. Here
 * the file is read straight into the direct buffer, and the framer is fed from it in pieces
 * through a small array that stays in the CPU's cache: one copy through memory fewer, and no
 * megabyte array per call.
 *
 * <p>The same wire format as the generated message ({@code data} = 1, then {@code size} = 2 when
 * not 0, default values left out), so clients see no difference.
 *
 * <p>A chunk lives in its thread's buffer until that thread reads the next chunk: grpc-java's
 * Netty transport has framed it by then (it frames a message before {@code onNext} returns). A
 * transport that reads the message later (the in-process one) is given a copy of the part it has
 * not read yet before the buffer is reused. A chunk is streamed once, as grpc-java does.
 */
final class ReadChunk {
    private static final int DATA_TAG = (1 << 3) | 2; // field 1, length-delimited
    private static final int SIZE_TAG = 2 << 3; // field 2, varint
    /** Bytes copied at a time from the direct buffer to the framer: small enough to stay in the L1/L2 cache. */
    static final int PIECE = 32 << 10;

    /** The sending thread's buffer and the chunk now holding it. */
    private static final class Slot {
        final ByteBuffer buffer = ByteBuffer.allocateDirect(BlobsGrpcService.CHUNK);
        final byte[] piece = new byte[PIECE];
        ReadChunk holder;
    }

    /**
     * One slot per thread that sends blobs: the transfer pool is bounded, so this is a megabyte of
     * direct memory per transfer thread, whatever the number of downloads.
     */
    private static final ThreadLocal<Slot> SLOTS = ThreadLocal.withInitial(Slot::new);

    /** The data: positions 0 to its limit. Replaced by a heap copy when its slot is reused; null once streamed. */
    private ByteBuffer data;
    private final int length;
    /** The blob's size, sent in the first message only (0: not sent, as for the generated message). */
    private final long size;
    private boolean streamed;

    private ReadChunk(ByteBuffer data, long size) {
        this.data = data;
        this.length = data.limit();
        this.size = size;
    }

    /**
     * Reads {@code n} bytes (at most {@link BlobsGrpcService#CHUNK}) of {@code channel} from
     * {@code position} into this thread's buffer.
     *
     * @param size the blob's size to send with the data, or 0 for none
     * @throws IOException when the file ends first or cannot be read
     */
    static ReadChunk read(FileChannel channel, long position, int n, long size) throws IOException {
        Slot slot = SLOTS.get();
        if (slot.holder != null) {
            slot.holder.detach();
            slot.holder = null;
        }
        ByteBuffer buf = slot.buffer.clear().limit(n);
        while (buf.hasRemaining()) {
            if (channel.read(buf, position + buf.position()) < 0) {
                throw new IOException("blob file shorter than recorded");
            }
        }
        ReadChunk chunk = new ReadChunk(buf.flip(), size);
        slot.holder = chunk;
        return chunk;
    }

    /** A chunk of the given message's fields (for tests and the marshaller's other half). */
    static ReadChunk of(ReadBlobResponse message) {
        return new ReadChunk(ByteBuffer.wrap(message.getData().toByteArray()), message.getSize());
    }

    int length() {
        return length;
    }

    /** The generated message with the same fields (copies the data: for tests). */
    synchronized ReadBlobResponse toResponse() {
        byte[] bytes = new byte[length];
        data.get(0, bytes);
        return ReadBlobResponse.newBuilder().setData(com.google.protobuf.ByteString.copyFrom(bytes)).setSize(size)
                .build();
    }

    /** Called before the slot's buffer is reused: a stream that has not read the data yet gets a copy. */
    private synchronized void detach() {
        if (streamed || data == null) {
            data = null; // streamed once: nothing may read the reused buffer through this chunk
            return;
        }
        ByteBuffer copy = ByteBuffer.allocate(length);
        copy.put(0, data, 0, length);
        data = copy;
    }

    private static byte[] head(int length) {
        if (length == 0) {
            return new byte[0];
        }
        byte[] head = new byte[1 + CodedOutputStream.computeUInt32SizeNoTag(length)];
        CodedOutputStream out = CodedOutputStream.newInstance(head);
        try {
            out.writeUInt32NoTag(DATA_TAG);
            out.writeUInt32NoTag(length);
            out.checkNoSpaceLeft();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        return head;
    }

    private static byte[] tail(long size) {
        if (size == 0) {
            return new byte[0];
        }
        byte[] tail = new byte[1 + CodedOutputStream.computeInt64SizeNoTag(size)];
        CodedOutputStream out = CodedOutputStream.newInstance(tail);
        try {
            out.writeUInt32NoTag(SIZE_TAG);
            out.writeInt64NoTag(size);
            out.checkNoSpaceLeft();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        return tail;
    }

    /**
     * The encoded message: the field headers around the data. grpc-java's framer calls
     * {@link #drainTo}; other readers use the plain {@code InputStream} methods.
     */
    private final class Stream extends InputStream implements Drainable, KnownLength {
        private final byte[] head = head(length);
        private final byte[] tail = tail(size);
        private final int total = head.length + length + tail.length;
        private int position;

        @Override
        public int drainTo(OutputStream target) throws IOException {
            synchronized (ReadChunk.this) {
                int start = position;
                checkReadable();
                if (position < head.length) {
                    target.write(head, position, head.length - position);
                    position = head.length;
                }
                int end = head.length + length;
                if (position < end) {
                    int from = position - head.length;
                    if (data.hasArray()) {
                        target.write(data.array(), data.arrayOffset() + from, length - from);
                    } else {
                        // The framer takes arrays only: hand it the data a cache-sized piece at a time.
                        byte[] piece = SLOTS.get().piece;
                        for (int i = from; i < length; i += PIECE) {
                            int k = Math.min(PIECE, length - i);
                            data.get(i, piece, 0, k);
                            target.write(piece, 0, k);
                        }
                    }
                    position = end;
                }
                if (position < total) {
                    target.write(tail, position - end, total - position);
                    position = total;
                }
                streamed = true;
                return position - start;
            }
        }

        private void checkReadable() {
            if (data == null) {
                throw new IllegalStateException("ReadBlob chunk read after its buffer was reused");
            }
        }

        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) {
            synchronized (ReadChunk.this) {
                if (position >= total) {
                    return -1;
                }
                checkReadable();
                int done = 0;
                int end = head.length + length;
                while (done < len && position < total) {
                    int k;
                    if (position < head.length) {
                        k = Math.min(len - done, head.length - position);
                        System.arraycopy(head, position, b, off + done, k);
                    } else if (position < end) {
                        k = Math.min(len - done, end - position);
                        data.get(position - head.length, b, off + done, k);
                    } else {
                        k = Math.min(len - done, total - position);
                        System.arraycopy(tail, position - end, b, off + done, k);
                    }
                    position += k;
                    done += k;
                }
                if (position >= total) {
                    streamed = true;
                }
                return done;
            }
        }

        @Override
        public int available() {
            return total - position;
        }
    }

    /** Writes chunks; parses responses into heap chunks (the server never receives one). */
    static final MethodDescriptor.Marshaller<ReadChunk> MARSHALLER = new MethodDescriptor.Marshaller<>() {
        @Override
        public InputStream stream(ReadChunk chunk) {
            return chunk.new Stream();
        }

        @Override
        public ReadChunk parse(InputStream stream) {
            try {
                return of(ReadBlobResponse.parseFrom(stream));
            } catch (InvalidProtocolBufferException e) {
                throw Status.INTERNAL.withDescription("Invalid protobuf byte sequence").withCause(e)
                        .asRuntimeException();
            } catch (IOException e) {
                throw Status.INTERNAL.withDescription("cannot read the response").withCause(e).asRuntimeException();
            }
        }
    };

    /** ReadBlob's method with these responses. */
    static MethodDescriptor<ReadBlobRequest, ReadChunk> method(
            MethodDescriptor<ReadBlobRequest, ReadBlobResponse> generated) {
        return generated.toBuilder(generated.getRequestMarshaller(), MARSHALLER).build();
    }
}
