package dev.layercache.server.storage;

import dev.layercache.server.metadata.KeyValueStore;
import dev.layercache.server.metadata.RocksKeyValueStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.io.TempDir;

/** The blob bytes of a node alone, small blobs in a real RocksDB: the whole contract, inline clauses included. */
class InlineBlobBackendTest extends BlobBackendContract {
    @TempDir
    Path root;
    private DataLayout layout;
    private RocksKeyValueStore kv;

    @Override
    protected BlobBackend backend() throws Exception {
        layout = new DataLayout(root).create();
        kv = new RocksKeyValueStore(layout.metadata());
        return new InlineBlobBackend(new DiskBlobBackend(layout), kv);
    }

    @Override
    protected KeyValueStore.Batch inlineBatch() {
        return kv.batch();
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

    @AfterEach
    void close() {
        if (kv != null) {
            kv.close();
        }
    }
}
