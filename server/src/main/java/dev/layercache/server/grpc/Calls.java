package dev.layercache.server.grpc;

import io.grpc.stub.StreamObserver;
import java.util.concurrent.Callable;

/** Runs a unary method body and answers with its result or its mapped error, once. */
final class Calls {
    private Calls() {
    }

    static <T> void unary(StreamObserver<T> observer, Callable<T> body) {
        T result;
        try {
            result = body.call();
        } catch (Throwable t) {
            observer.onError(GrpcErrors.toStatus(t));
            return;
        }
        observer.onNext(result);
        observer.onCompleted();
    }
}
