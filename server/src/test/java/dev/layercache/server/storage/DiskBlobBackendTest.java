package dev.layercache.server.storage;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;

class DiskBlobBackendTest extends BlobBackendContract {
    @TempDir
    Path root;
    private DataLayout layout;

    @Override
    protected BlobBackend backend() throws Exception {
        layout = new DataLayout(root).create();
        return new DiskBlobBackend(layout);
    }

    @Override
    protected Path scratch() {
        return layout.uploads();
    }

    @Override
    protected long filesHeld() throws Exception {
        try (Stream<Path> s = Files.walk(layout.blobs())) {
            return s.filter(Files::isRegularFile).count();
        }
    }
}
