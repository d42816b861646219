package dev.layercache.server.buildkit;

import static dev.layercache.server.builds.BuildKitExport.key;
import static dev.layercache.server.builds.BuildKitExport.link;

import dev.layercache.server.builds.BuildKitExport;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The build the over-HTTP tests of build insight export, as BuildKit exports its cache
 * ({@link BuildKitExport}), a two-stage Dockerfile:
 * <pre>
 * FROM golang AS builder          FROM busybox
 * COPY main.go .                  COPY app.txt /app/
 * RUN go build -o /out/app        RUN make
 *                                 COPY --from=builder /out/app /bin/
 *                                 RUN ./test
 * </pre>
 * {@code mode=max} exports every stage's records with their layers: 8 steps. {@code mode=min}
 * exports the layers of the final stage only; the builder stage's records are there as keys
 * ({@code COPY --from} is keyed on them), and its {@code FROM}, with neither inputs nor results,
 * reads as a content key: 7 steps.
 */
public final class TwoStageBuild {
    public static final String FROM = "[stage-1 1/5] FROM docker.io/library/busybox";
    public static final String COPY_APP = "[stage-1 2/5] COPY app.txt /app/";
    public static final String COPY_FROM = "[stage-1 4/5] COPY --from=builder /out/app /bin/";
    public static final String TEST = "[stage-1 5/5] RUN ./test";
    private static final AtomicInteger SESSIONS = new AtomicInteger();

    private TwoStageBuild() {
    }

    /**
     * The build's cache export: {@code max} for {@code mode=max}, {@code appTxt} the content of
     * app.txt, {@code run} the command of the final stage's first RUN. The local context's key
     * is the client's session, new in every build.
     */
    public static BuildKitExport export(boolean max, String appTxt, String run) {
        BuildKitExport e = new BuildKitExport()
                .session("context", "local://context session " + SESSIONS.incrementAndGet())
                .contentKey("main.go", "content of main.go: v1")
                .contentKey("app.txt", "content of app.txt: " + appTxt);
        if (max) {
            e.step("golang", "docker-image://docker.io/library/golang@sha256:1",
                            "[builder 1/3] FROM docker.io/library/golang")
                    .step("src", "file copy main.go .", "[builder 2/3] COPY main.go .", List.of(link("golang")),
                            List.of(link(key("main.go"), "context"), link("main.go")))
                    .step("build", "exec go build -o /out/app", "[builder 3/3] RUN go build -o /out/app",
                            List.of(link("src")));
        } else {
            e.keyOnly("golang", "docker-image://docker.io/library/golang@sha256:1")
                    .keyOnly("src", "file copy main.go .", List.of(link("golang")),
                            List.of(link(key("main.go"), "context"), link("main.go")))
                    .keyOnly("build", "exec go build -o /out/app", List.of(link("src")));
        }
        return e.step("from", "docker-image://docker.io/library/busybox@sha256:1", FROM)
                .step("copy", "file copy app.txt /app/", COPY_APP, List.of(link("from")),
                        List.of(link(key("app.txt"), "context"), link("app.txt")))
                .step("run", "exec " + run, "[stage-1 3/5] RUN " + run, List.of(link("copy")))
                .step("copyFrom", "file copy /out/app /bin/", COPY_FROM, List.of(link("run")),
                        List.of(link(key("/out/app"), "build")))
                .step("test", "exec ./test", TEST, List.of(link("copyFrom")));
    }
}
