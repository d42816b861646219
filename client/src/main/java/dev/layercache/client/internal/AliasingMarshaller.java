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
 * read into. grpc-java's protobuf marshaller reads a message into a scratch array and protobuf
 * then copies every {@code bytes} field out of it: for a 1 MiB ReadBlob message that is a second
 * copy of the data and a second megabyte allocated. Here the array read is the message's own.
 */
final class AliasingMarshaller<T extends MessageLite> implements MethodDescriptor.Marshaller<T> {
    private final Parser<T> parser;

    AliasingMarshaller(Parser<T> parser) {
        this.parser = parser;
    }

    @Override
    public InputStream stream(T value) {
        return value.toByteString().newInput();
    }

    @Override
    public T parse(InputStream stream) {
        try {
            byte[] bytes = stream instanceof KnownLength ? readExactly(stream, stream.available()) : stream.readAllBytes();
            // Over a ByteString, protobuf treats the array as immutable and lets fields alias it.
            CodedInputStream in = UnsafeByteOperations.unsafeWrap(bytes).newCodedInput();
            in.enableAliasing(true);
            in.setSizeLimit(Integer.MAX_VALUE);
            return parser.parseFrom(in, ExtensionRegistryLite.getEmptyRegistry());
        } catch (InvalidProtocolBufferException e) {
            throw Status.INTERNAL.withDescription("invalid protobuf message from the server").withCause(e)
                    .asRuntimeException();
        } catch (IOException e) {
            throw Status.INTERNAL.withDescription("cannot read a message").withCause(e).asRuntimeException();
        }
    }

    /**
     * The stream's {@code n} bytes, read straight into one array. {@code InputStream.readNBytes(n)}
     * reads 8 KiB arrays and then copies them into the result: a second copy of a megabyte.
     */
    static byte[] readExactly(InputStream stream, int n) throws IOException {
        byte[] bytes = new byte[n];
        int read = stream.readNBytes(bytes, 0, n);
        if (read != n) {
            throw new IOException("a message of " + n + " bytes ended after " + read);
        }
        return bytes;
    }
}
