package dev.layercache.server.grpc;

import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import java.net.InetSocketAddress;
import java.net.SocketAddress;

/**
 * Puts the address a call came from into its context: without access control every caller is
 * {@code anonymous}, and limits meant for one client (upload sessions) must still tell clients apart.
 */
final class ClientAddress implements ServerInterceptor {
    static final ClientAddress INTERCEPTOR = new ClientAddress();
    private static final Context.Key<String> ADDRESS = Context.key("layercache-client-address");

    private ClientAddress() {
    }

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
                                                       ServerCallHandler<Q, R> next) {
        SocketAddress remote = call.getAttributes().get(Grpc.TRANSPORT_ATTR_REMOTE_ADDR);
        String address = remote instanceof InetSocketAddress inet && inet.getAddress() != null
                ? inet.getAddress().getHostAddress() : String.valueOf(remote);
        return Contexts.interceptCall(Context.current().withValue(ADDRESS, address), call, headers, next);
    }

    /** The current call's remote address, or "unknown" outside a call. */
    static String current() {
        String address = ADDRESS.get();
        return address == null ? "unknown" : address;
    }
}
