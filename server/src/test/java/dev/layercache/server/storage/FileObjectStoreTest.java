package dev.layercache.server.storage;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.storage.ObjectStore.UnavailableException;
import dev.layercache.server.testing.TestServer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FileObjectStoreTest extends ObjectStoreContract {
    @TempDir
    Path root;

    @Override
    protected ObjectStore open() throws Exception {
        return FileObjectStore.open(root);
    }

    @AfterEach
    void nothingLeftInTmp() throws Exception {
        if (Files.isDirectory(root.resolve(".tmp"))) {
            assertEquals(List.of(), filesIn(root.resolve(".tmp")), "writes leave no temporary file behind");
        }
    }

    @Test
    void objectsAreFilesUnderTheirKeys() throws Exception {
        store.put("a/b:c", new byte[] {7});
        assertTrue(Files.isRegularFile(root.resolve("a").resolve("b:c")));
        assertEquals(List.of(".tmp", "a"), filesIn(root));
    }

    @Test
    void keysThatWouldLeaveTheFolderAreRefused() {
        for (String key : List.of("../x", "a/../../x", "/abs", "a//b", "a/", ".", "..", ".tmp/x", "a b", "")) {
            assertThrows(IllegalArgumentException.class, () -> store.put(key, new byte[0]), key);
        }
    }

    @Test
    void aKeyCannotBeBothAnObjectAndAFolder() throws Exception {
        store.put("a", new byte[] {1});
        assertThrows(IOException.class, () -> store.put("a/b", new byte[] {2}));
        store.put("c/d", new byte[] {3});
        assertThrows(IOException.class, () -> store.put("c", new byte[] {4}));
        assertEquals(-1, store.size("c"), "a folder is not an object");
        assertEquals(List.of("a", "c/d"), store.list("", null, 10));
    }

    @Test
    void aLostMountIsUnavailableNotAbsent() throws Exception {
        store.put("k", new byte[] {1});
        // What a node sees when the share is unmounted: its mount point, empty.
        for (String name : filesIn(root)) {
            TestServer.deleteRecursively(root.resolve(name));
        }
        assertThrows(UnavailableException.class, () -> store.get("k"));
        assertThrows(UnavailableException.class, () -> store.size("k"));
        assertThrows(UnavailableException.class, () -> store.download("k", root.resolve("t")));
        assertThrows(UnavailableException.class, () -> store.list("", null, 10));
        assertThrows(UnavailableException.class, () -> store.put("k", new byte[] {1}));
        Files.createDirectory(root.resolve(".tmp")); // mounted again (empty here, but there)
    }

    @Test
    void openRemovesWritesThatCrashedADayAgo() throws Exception {
        Path old = Files.writeString(root.resolve(".tmp").resolve("put123.tmp"), "crashed");
        Files.setLastModifiedTime(old, FileTime.from(Instant.now().minus(Duration.ofHours(25))));
        Path recent = Files.writeString(root.resolve(".tmp").resolve("put456.tmp"), "in progress elsewhere");
        FileObjectStore.open(root).close();
        assertFalse(Files.exists(old));
        assertTrue(Files.exists(recent));
        Files.delete(recent);
    }

    @Test
    void putIfAbsentOnAFolderOfKeysFails() throws Exception {
        store.put("c/d", new byte[] {3});
        assertThrows(IOException.class, () -> store.putIfAbsent("c", new byte[] {4}));
    }

    @Test
    void aMissingFolderIsRefusedAtOpen() {
        assertThrows(UnavailableException.class, () -> FileObjectStore.open(root.resolve("not-mounted")));
    }
}
