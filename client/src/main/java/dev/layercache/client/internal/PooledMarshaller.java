package dev.layercache.client.internal;

import com.google.protobuf.CodedInputStream;
import com.google.protobuf.ExtensionRegistryLite;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.MessageLite;
import com.google.protobuf.Parser;
import com.google.protobuf.UnsafeByteOperations;
import io.grpc.KnownLength;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import java.io.IOException;
import java.io.InputStream;

/**
 * Parses messages whose {@code bytes} fields keep pointing into the one array the message was
 * read into, an array taken from a pool and given back when the message is closed.
 *
 * <p>grpc-java's protobuf marshaller reads a message into a scratch array and protobuf then
 * copies every {@code bytes} field out of it: for a 1 MiB ReadBlob message that is a second copy
 * of the data and a second megabyte allocated. Here the array read is the message's own, and it
 * is reused: see {@link ArrayPool} for what a fresh array per message costs.
 *
 * @param <T> the message type
 */
final class PooledMarshaller<T extends MessageLite> implements MethodDescriptor.Marshaller<PooledMessage<T>> {
    private final Parser<T> parser;
    private final ArrayPool pool;

    PooledMarshaller(Parser<T> parser, ArrayPool pool) {
        this.parser = parser;
        this.pool = pool;
    }

    @Override
    public InputStream stream(PooledMessage<T> value) {
        return value.message().toByteString().newInput();
    }

    @Override
    public PooledMessage<T> parse(InputStream stream) {
        byte[] array = null;
        try {
            int length;
            if (stream instanceof KnownLength) {
                length = stream.available();
                array = pool.take(length);
                readExactly(stream, array, length);
            } else {
                array = stream.readAllBytes();
                length = array.length;
            }
            // Over a ByteString, protobuf treats the array as immutable and lets fields alias it.
            CodedInputStream in = UnsafeByteOperations.unsafeWrap(array, 0, length).newCodedInput();
            in.enableAliasing(true);
            in.setSizeLimit(Integer.MAX_VALUE);
            return new PooledMessage<>(parser.parseFrom(in, ExtensionRegistryLite.getEmptyRegistry()), pool, array);
        } catch (InvalidProtocolBufferException e) {
            giveBack(array);
            throw Status.INTERNAL.withDescription("invalid protobuf message from the server").withCause(e)
                    .asRuntimeException();
        } catch (IOException e) {
            giveBack(array);
            throw Status.INTERNAL.withDescription("cannot read a message").withCause(e).asRuntimeException();
        }
    }

    private void giveBack(byte[] array) {
        if (array != null) {
            pool.give(array);
        }
    }

    /**
     * Reads the stream's {@code n} bytes straight into {@code array}.
     * {@code InputStream.readNBytes(n)} reads 8 KiB arrays and then copies them into the result:
     * a second copy of a megabyte.
     */
    static void readExactly(InputStream stream, byte[] array, int n) throws IOException {
        int read = stream.readNBytes(array, 0, n);
        if (read != n) {
            throw new IOException("a message of " + n + " bytes ended after " + read);
        }
    }
}
