package dev.layercache.server.grpc;

import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCall;
import io.grpc.ServerCallExecutorSupplier;
import java.util.concurrent.Executor;

/**
 * Which pool runs a call: unary calls (entry lookups, blob stats, small batches, health checks) on
 * the request pool, streaming calls (blob reads and writes) on the transfer pool, so that a lookup
 * never queues behind the disk work of a transfer. grpc-java starts every call on the server's
 * default executor, the request pool, and moves it here before any interceptor or service code.
 */
final class CallExecutors implements ServerCallExecutorSupplier {
    private final Executor requests;
    private final Executor transfers;

    CallExecutors(Executor requests, Executor transfers) {
        this.requests = requests;
        this.transfers = transfers;
    }

    /** The default executor of the server (what runs a call until {@link #getExecutor} is asked). */
    Executor requests() {
        return requests;
    }

    Executor of(MethodDescriptor<?, ?> method) {
        return method.getType() == MethodDescriptor.MethodType.UNARY ? requests : transfers;
    }

    @Override
    public <Q, R> Executor getExecutor(ServerCall<Q, R> call, Metadata headers) {
        return of(call.getMethodDescriptor());
    }
}
