package dev.layercache.server.grpc;

import com.google.protobuf.InvalidProtocolBufferException;
import io.grpc.ForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;

/**
 * Makes a request message that does not parse a clear {@code INVALID_ARGUMENT}. grpc-java parses
 * requests before any service code runs and reports a failure as {@code UNKNOWN} "Application
 * error processing RPC"; with this, services receive their messages as streams
 * ({@link ServerInterceptors#useInputStreamMessages}), the parse happens one step later, inside
 * this listener's reach, and a failure ends the call with what was wrong.
 */
final class MalformedMessages implements ServerInterceptor {

    /** {@code service} with its request parsing guarded. */
    static ServerServiceDefinition guard(ServerServiceDefinition service) {
        return ServerInterceptors.intercept(ServerInterceptors.useInputStreamMessages(service), new MalformedMessages());
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
