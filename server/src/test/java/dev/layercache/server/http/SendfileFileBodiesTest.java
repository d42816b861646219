package dev.layercache.server.http;

import dev.layercache.server.config.ServerConfig;
import dev.layercache.server.testing.TestServer;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Blob bodies handed to {@code sendfile(2)} ({@code http-downloads: sendfile}). */
class SendfileFileBodiesTest extends FileBodiesContract {
    @RegisterExtension
    static final TestServer server = new TestServer(c -> c.withHttpDownloads(ServerConfig.HttpDownloads.SENDFILE));

    @Override
    TestServer server() {
        return server;
    }
}
