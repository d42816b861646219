package dev.layercache.server.grpc;

import com.google.protobuf.InvalidProtocolBufferException;
import io.grpc.ForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.ServerMethodDefinition;
import io.grpc.ServerServiceDefinition;
import io.grpc.ServiceDescriptor;
import io.grpc.Status;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;

/**
 * Makes a request message that does not parse a clear {@code INVALID_ARGUMENT}. grpc-java parses
 * requests before any service code runs and reports a failure as {@code UNKNOWN} "Application
 * error processing RPC"; with this, services receive their requests as streams, the parse
 * happens one step later, inside this listener's reach, and a failure ends the call with what
 * was wrong.
 *
 * <p>Only requests take the detour. grpc-java's {@code ServerInterceptors.useInputStreamMessages}
 * turns responses into streams too, and then re-reads every response through a buffered stream:
 * a second serialisation, a new array the size of the message (a megabyte per ReadBlob message)
 * and an 8 KiB buffer per call, where the original marshaller writes straight into the transport.
 */
final class MalformedMessages implements ServerInterceptor {

    /** {@code service} with its request parsing guarded. */
    static ServerServiceDefinition guard(ServerServiceDefinition service) {
        // The schema stays with the service, for server reflection.
        ServiceDescriptor.Builder descriptor = ServiceDescriptor.newBuilder(service.getServiceDescriptor().getName())
                .setSchemaDescriptor(service.getServiceDescriptor().getSchemaDescriptor());
        List<ServerMethodDefinition<InputStream, ?>> methods = new ArrayList<>();
        for (ServerMethodDefinition<?, ?> method : service.getMethods()) {
            ServerMethodDefinition<InputStream, ?> streamed = requestsAsStreams(method);
            methods.add(streamed);
            descriptor.addMethod(streamed.getMethodDescriptor());
        }
        ServerServiceDefinition.Builder streams = ServerServiceDefinition.builder(descriptor.build());
        methods.forEach(streams::addMethod);
        return ServerInterceptors.intercept(streams.build(), new MalformedMessages());
    }

    /** A request marshaller that hands the transport's stream over as it is. */
    private static final MethodDescriptor.Marshaller<InputStream> AS_IS = new MethodDescriptor.Marshaller<>() {
        @Override
        public InputStream stream(InputStream value) {
            return value;
        }

        @Override
        public InputStream parse(InputStream stream) {
            return stream; // read before the transport closes it: within onMessage
        }
    };

    /** {@code method} taking its requests as streams, parsed by its own marshaller in its listener. */
    private static <Q, R> ServerMethodDefinition<InputStream, R> requestsAsStreams(ServerMethodDefinition<Q, R> method) {
        MethodDescriptor<Q, R> original = method.getMethodDescriptor();
        MethodDescriptor<InputStream, R> streamed = original.toBuilder(AS_IS, original.getResponseMarshaller()).build();
        ServerCallHandler<InputStream, R> handler = (call, headers) -> {
            ServerCall<Q, R> originalCall = new ServerCall<>() {
                @Override
                public void request(int numMessages) {
                    call.request(numMessages);
                }

                @Override
                public void sendHeaders(Metadata responseHeaders) {
                    call.sendHeaders(responseHeaders);
                }

                @Override
                public void sendMessage(R message) {
                    call.sendMessage(message);
                }

                @Override
                public boolean isReady() {
                    return call.isReady();
                }

                @Override
                public void setOnReadyThreshold(int numBytes) {
                    call.setOnReadyThreshold(numBytes);
                }

                @Override
                public void close(Status status, Metadata trailers) {
                    call.close(status, trailers);
                }

                @Override
                public boolean isCancelled() {
                    return call.isCancelled();
                }

                @Override
                public void setMessageCompression(boolean enabled) {
                    call.setMessageCompression(enabled);
                }

                @Override
                public void setCompression(String compressor) {
                    call.setCompression(compressor);
                }

                @Override
                public io.grpc.SecurityLevel getSecurityLevel() {
                    return call.getSecurityLevel();
                }

                @Override
                public io.grpc.Attributes getAttributes() {
                    return call.getAttributes();
                }

                @Override
                public String getAuthority() {
                    return call.getAuthority();
                }

                @Override
                public MethodDescriptor<Q, R> getMethodDescriptor() {
                    return original;
                }
            };
            ServerCall.Listener<Q> listener = method.getServerCallHandler().startCall(originalCall, headers);
            return new ServerCall.Listener<>() {
                @Override
                public void onMessage(InputStream message) {
                    listener.onMessage(original.parseRequest(message));
                }

                @Override
                public void onHalfClose() {
                    listener.onHalfClose();
                }

                @Override
                public void onCancel() {
                    listener.onCancel();
                }

                @Override
                public void onComplete() {
                    listener.onComplete();
                }

                @Override
                public void onReady() {
                    listener.onReady();
                }
            };
        };
        return ServerMethodDefinition.create(streamed, handler);
    }

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
                                                       ServerCallHandler<Q, R> next) {
        return new ForwardingServerCallListener.SimpleForwardingServerCallListener<>(next.startCall(call, headers)) {
            private boolean refused;

            @Override
            public void onMessage(Q message) {
                if (refused) {
                    return;
                }
                try {
                    super.onMessage(message);
                } catch (RuntimeException e) {
                    InvalidProtocolBufferException malformed = malformed(e);
                    if (malformed == null) {
                        throw e;
                    }
                    refused = true;
                    call.close(Status.INVALID_ARGUMENT.withDescription("malformed request message: "
                            + malformed.getMessage()), new Metadata());
                }
            }

            @Override
            public void onHalfClose() {
                if (!refused) {
                    super.onHalfClose();
                }
            }
        };
    }

    private static InvalidProtocolBufferException malformed(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
            if (c instanceof InvalidProtocolBufferException e) {
                return e;
            }
        }
        return null;
    }
}
