package dev.layercache.server.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertSame;

import dev.layercache.api.v1.EntryCacheGrpc;
import io.grpc.MethodDescriptor;
import io.grpc.ServerMethodDefinition;
import io.grpc.ServerServiceDefinition;
import org.junit.jupiter.api.Test;

/**
 * The guard's wrapping itself: requests become streams (so that their parse runs where a failure
 * can be answered; {@code MalformedProtobufTest} sends the garbage), while responses keep the
 * service's own marshaller, which writes straight into the transport. grpc-java's
 * {@code useInputStreamMessages} wraps responses too and then serialises each of them a second
 * time into a new array, a megabyte per ReadBlob message.
 */
class MalformedMessagesTest {

    @Test
    void onlyRequestsBecomeStreamsAndTheSchemaStays() {
        ServerServiceDefinition original = new EntryCacheGrpc.EntryCacheImplBase() { }.bindService();
        ServerServiceDefinition guarded = MalformedMessages.guard(original);
        assertSame(original.getServiceDescriptor().getSchemaDescriptor(),
                guarded.getServiceDescriptor().getSchemaDescriptor(), "server reflection needs the schema");
        assertEquals(original.getMethods().size(), guarded.getMethods().size());
        for (ServerMethodDefinition<?, ?> method : original.getMethods()) {
            MethodDescriptor<?, ?> before = method.getMethodDescriptor();
            MethodDescriptor<?, ?> after = guarded.getMethod(before.getFullMethodName()).getMethodDescriptor();
            assertNotNull(after);
            assertSame(before.getResponseMarshaller(), after.getResponseMarshaller(),
                    before.getFullMethodName() + " keeps its response marshaller");
            assertEquals(before.getType(), after.getType());
        }
    }
}
