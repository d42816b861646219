package dev.layercache.server.http;

import dev.layercache.server.testing.TestServer;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Blob bodies copied through 256 KiB buffers: the default ({@code http-downloads: copy}). */
class CopiedFileBodiesTest extends FileBodiesContract {
    @RegisterExtension
    static final TestServer server = new TestServer();

    @Override
    TestServer server() {
        return server;
    }
}
