package dev.layercache.server.e2e;

import java.nio.file.Path;
import java.util.List;

/** One buildah storage root (a "machine"): buildah commands with their own storage and run folders. */
record BuildahRoot(Path buildah, Path root) {
    Cmd.Result run(Object... args) {
        return Cmd.of(buildah, "--root", root.resolve("root"), "--runroot", root.resolve("run"),
                "--storage-driver", "vfs", List.of(args)).dir(root.getParent()).run();
    }

    Cmd.Result ok(Object... args) {
        Cmd.Result r = run(args);
        r.assertOk();
        return r;
    }
}
