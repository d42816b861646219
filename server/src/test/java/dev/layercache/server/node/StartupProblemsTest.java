package dev.layercache.server.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.LayerCacheServer;
import dev.layercache.server.config.ServerConfig;
import dev.layercache.server.testing.ServerProcess;
import java.io.IOException;
import java.net.BindException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A node that cannot start says why and what to do: the busy port by number and setting, the data
 * directory held by another process with its id; and addresses are printed as people write them.
 */
@Timeout(120)
class StartupProblemsTest {
    @TempDir
    Path dir;

    @Test
    void aBusyPortIsNamedWithItsSetting() throws Exception {
        try (ServerSocket busy = new ServerSocket()) {
            busy.bind(new InetSocketAddress("127.0.0.1", 0));
            int port = busy.getLocalPort();
            Exception e = assertThrows(BindException.class, () -> LayerCacheServer.start(
                    ServerConfig.builder().dataDir(dir.resolve("a")).ports(port, 0).build()).close());
            assertEquals("port " + port + " (http-port) is in use: another process listens there; choose another"
                    + " with --http-port", e.getMessage());
            e = assertThrows(BindException.class, () -> LayerCacheServer.start(
                    ServerConfig.builder().dataDir(dir.resolve("b")).ports(0, port).build()).close());
            assertEquals("port " + port + " (grpc-port) is in use: another process listens there; choose another"
                    + " with --grpc-port", e.getMessage());
        }
        // Nothing was left holding the data directories: a node starts on them now.
        LayerCacheServer.start(ServerConfig.builder().dataDir(dir.resolve("a")).build()).close();
        LayerCacheServer.start(ServerConfig.builder().dataDir(dir.resolve("b")).build()).close();
    }

    @Test
    void aDataDirectoryInUseNamesTheProcessThatHoldsIt() throws Exception {
        Path data = dir.resolve("data");
        try (ServerProcess other = ServerProcess.start(data, dir.resolve("other.log"))) {
            IOException e = assertThrows(DataDirLock.InUseException.class, () -> Stores.alone(data).close());
            assertEquals("data directory " + data + " is in use by another layercache process (pid "
                    + other.process().pid() + "): stop it, or choose another folder with --data-dir", e.getMessage());
            Exception viaNode = assertThrows(DataDirLock.InUseException.class,
                    () -> LayerCacheServer.start(ServerConfig.forTesting(data)).close());
            assertEquals(e.getMessage(), viaNode.getMessage());
            assertEquals(other.process().pid() + "\n", Files.readString(data.resolve("layercache.pid")));
            other.kill9();
        }
        // A holder killed without a word leaves its file, not its lock.
        try (Stores stores = Stores.alone(data)) {
            assertEquals(ProcessHandle.current().pid() + "\n", Files.readString(data.resolve("layercache.pid")));
            Exception same = assertThrows(DataDirLock.InUseException.class, () -> Stores.alone(data).close());
            assertTrue(same.getMessage().contains("another node in this process"), same.getMessage());
        }
    }

    @Test
    void addressesAreWrittenAsPeopleWriteThem() throws Exception {
        assertEquals("0.0.0.0:5000", ListenAddresses.format("0.0.0.0", 5000));
        assertEquals("127.0.0.1:5000", ListenAddresses.format("127.0.0.1", 5000));
        assertEquals("[::]:5000", ListenAddresses.format("::", 5000));
        assertEquals("[::]:5000", ListenAddresses.format("0:0:0:0:0:0:0:0", 5000));
        assertEquals("[::1]:9092", ListenAddresses.format("::1", 9092));
        assertEquals("[fd00::5:0:0:6]:1", ListenAddresses.format("fd00:0:0:0:5:0:0:6", 1));
        assertEquals("[fd00:1::]:1", ListenAddresses.format("fd00:1:0:0:0:0:0:0", 1));
        assertEquals("localhost:5000", ListenAddresses.format("localhost", 5000));
        assertEquals("1:2:3:4:5:6:7:8", ListenAddresses.compress(InetAddress.getByName("1:2:3:4:5:6:7:8")));
        assertTrue(ListenAddresses.isLoopbackOnly("127.0.0.1"));
        assertTrue(ListenAddresses.isLoopbackOnly("::1"));
        assertTrue(!ListenAddresses.isLoopbackOnly("0.0.0.0"));
        assertTrue(!ListenAddresses.isLoopbackOnly("::"));
    }
}
