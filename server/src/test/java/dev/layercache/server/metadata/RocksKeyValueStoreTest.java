package dev.layercache.server.metadata;

import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.io.TempDir;

class RocksKeyValueStoreTest extends KeyValueStoreContract {
    @TempDir
    Path dir;
    private RocksKeyValueStore current;

    @Override
    protected KeyValueStore store() {
        current = new RocksKeyValueStore(dir.resolve("db"));
        return current;
    }

    @Override
    protected KeyValueStore reopen() {
        current.close();
        current = new RocksKeyValueStore(dir.resolve("db"));
        return current;
    }

    @AfterEach
    void close() {
        if (current != null) {
            current.close();
        }
    }
}
