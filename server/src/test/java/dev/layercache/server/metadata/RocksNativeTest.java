package dev.layercache.server.metadata;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.testing.ServerProcess;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * RocksDB's native library is copied into the temporary folder once, not at every start: a node
 * killed again and again (by its supervisor, the OOM killer, these tests) used to leave a 15 MB
 * copy per start.
 */
class RocksNativeTest {

    @Test
    void nodesKilledTwiceLeaveOneCopyOfTheLibraryAndTheSecondReusesIt(@TempDir Path dir) throws Exception {
        Path tmp = Files.createDirectories(dir.resolve("tmp"));
        List<String> jvm = List.of("-Xmx256m", "-Djava.io.tmpdir=" + tmp);

        ServerProcess first = ServerProcess.start(dir.resolve("data"), dir.resolve("first.log"), jvm);
        first.kill9();
        List<Path> afterFirst = libraries(tmp);
        assertEquals(1, afterFirst.size(), "one copy after the first start: " + afterFirst);
        Path library = afterFirst.get(0);
        assertEquals(tmp.resolve("layercache-native-" + System.getProperty("user.name")), library.getParent().getParent(),
                "kept in the user's own folder: " + library);
        assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(library.getParent().getParent())));
        Object identity = Files.readAttributes(library, BasicFileAttributes.class).fileKey();

        ServerProcess second = ServerProcess.start(dir.resolve("data"), dir.resolve("second.log"), jvm);
        second.kill9();
        List<Path> afterSecond = libraries(tmp);
        assertEquals(List.of(library), afterSecond, "the second start loads the same copy and adds none");
        assertEquals(identity, Files.readAttributes(library, BasicFileAttributes.class).fileKey(),
                "the copy was not written again");
        try (Stream<Path> all = Files.walk(tmp)) {
            assertTrue(all.noneMatch(p -> p.getFileName().toString().endsWith(".partial")), "no partial copy left");
        }
    }

    @Test
    void aFolderOthersCanWriteIsNotTrusted(@TempDir Path tmp) throws IOException {
        Path shared = tmp.resolve("layercache-native-" + System.getProperty("user.name"));
        Files.createDirectory(shared);
        Files.setPosixFilePermissions(shared, PosixFilePermissions.fromString("rwxrwxrwx"));
        IOException refused = assertThrows(IOException.class, () -> RocksNative.keptCopy(tmp));
        assertTrue(refused.getMessage().contains("not private"), refused.getMessage());
        try (Stream<Path> all = Files.walk(tmp)) {
            assertEquals(List.of(tmp, shared), all.toList(), "nothing written into it");
        }
    }

    @Test
    void aCopyIsMadeOnceAndFoundAgain(@TempDir Path tmp) throws IOException {
        Path folder = RocksNative.keptCopy(tmp);
        Path library = folder.resolve(RocksNative.keptFileName());
        assertTrue(Files.size(library) > 1_000_000, "the whole library: " + Files.size(library));
        long modified = Files.getLastModifiedTime(library).toMillis();
        assertEquals(folder, RocksNative.keptCopy(tmp));
        assertEquals(modified, Files.getLastModifiedTime(library).toMillis());
    }

    private static List<Path> libraries(Path tmp) throws IOException {
        try (Stream<Path> all = Files.walk(tmp)) {
            return all.filter(p -> p.getFileName().toString().contains("rocksdbjni")).sorted().toList();
        }
    }
}
