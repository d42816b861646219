package dev.layercache.server.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.auth.Credentials;
import dev.layercache.server.config.ServerConfig;
import dev.layercache.server.testing.RealTools;
import dev.layercache.server.testing.TestServer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Real clients with credentials against a node with access control: the main branch's CI token
 * writes {@code team/*}, the pull-request token only reads it. buildah with {@code --creds}
 * exports its cache with the first; with the second its {@code --cache-to} is refused while its
 * {@code --cache-from} works; skopeo with {@code --creds} likewise; {@code docker login}, push and
 * pull through dockerd.
 */
@Tag("e2e")
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class AuthRealClientsTest {
    static final Path DIR;

    static {
        try {
            DIR = Files.createTempDirectory("layercache-auth-e2e");
            Files.writeString(DIR.resolve("tokens"), "ci-main sha256:" + Credentials.sha256("main-token") + "\n"
                    + "ci-pr sha256:" + Credentials.sha256("pr-token") + "\n");
            Files.writeString(DIR.resolve("rules.yaml"), String.join("\n", "rules:",
                    "  - identity: ci-main", "    namespaces: [\"team/*\"]", "    actions: [read, write]",
                    "  - identity: ci-pr", "    namespaces: [\"team/*\"]", "    actions: [read]", ""));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @RegisterExtension
    static TestServer server = new TestServer(c -> c.withAuth(new ServerConfig.Auth(null, DIR.resolve("tokens"),
            DIR.resolve("rules.yaml"), false, "")));

    private static final Pattern RAN = Pattern.compile("(?m)^RAN-STEP-\\d+ ");

    @TempDir
    Path work;

    private static Dockerd dockerd;

    @AfterAll
    static void stopDockerd() {
        if (dockerd != null) {
            dockerd.close();
        }
    }

    @Test
    void buildahAndSkopeoWithCredentialsAndAReadOnlyToken() throws Exception {
        Path buildah = RealTools.require("buildah", "buildah --creds against access control");
        Path skopeo = RealTools.require("skopeo", "skopeo --creds against access control");
        String host = server.hostPort();
        String main = "ci-main:main-token";
        String pr = "ci-pr:pr-token";

        Path baseCtx = BusyboxBase.create(work.resolve("basectx"));
        BuildahRoot maker = new BuildahRoot(buildah, work.resolve("root-base"));
        maker.ok("build", "-f", baseCtx.resolve("Base.Containerfile"), "-t", "localhost/busybase", baseCtx);
        Cmd.Result anonymous = maker.run("push", "--tls-verify=false", "localhost/busybase", host + "/team/base:1");
        assertNotEquals(0, anonymous.exitCode(), "a push without credentials is refused" + anonymous.describe());
        Cmd.Result readOnly = maker.run("push", "--tls-verify=false", "--creds", pr, "localhost/busybase",
                host + "/team/base:1");
        assertNotEquals(0, readOnly.exitCode(), "a push with the read-only token is refused" + readOnly.describe());
        maker.ok("push", "--tls-verify=false", "--creds", main, "localhost/busybase", host + "/team/base:1");

        // skopeo: the read-only token reads, and may not write.
        Path layout = work.resolve("layout");
        Cmd.of(skopeo, "--insecure-policy", "copy", "--src-tls-verify=false", "--src-creds", pr,
                "docker://" + host + "/team/base:1", "oci:" + layout + ":1").ok();
        Cmd.Result skopeoPush = Cmd.of(skopeo, "--insecure-policy", "copy", "--dest-tls-verify=false",
                "--dest-creds", pr, "oci:" + layout + ":1", "docker://" + host + "/team/copy:1").run();
        assertNotEquals(0, skopeoPush.exitCode(), skopeoPush.describe());
        assertTrue(skopeoPush.output().contains("denied") || skopeoPush.output().contains("DENIED"),
                "skopeo reports the refusal" + skopeoPush.describe());
        Cmd.of(skopeo, "--insecure-policy", "copy", "--dest-tls-verify=false", "--dest-creds", main,
                "oci:" + layout + ":1", "docker://" + host + "/team/copy:1").ok();
        Cmd.of(skopeo, "inspect", "--tls-verify=false", "--creds", pr, "docker://" + host + "/team/copy:1").ok();

        // buildah: the main branch exports the cache.
        Path mainCtx = context(work.resolve("ctx-main"), "main " + UUID.randomUUID());
        Path prCtx = context(work.resolve("ctx-pr"), "changed by a pull request " + UUID.randomUUID());
        BuildahRoot a = new BuildahRoot(buildah, work.resolve("root-a"));
        Cmd.Result buildA = a.ok("build", "--isolation", "chroot", "--layers", "--tls-verify=false", "--creds", main,
                "--cache-to", host + "/team/cache", "-f", mainCtx.resolve("Containerfile"), "-t", "localhost/app",
                mainCtx);
        assertEquals(2, count(buildA.output()), buildA.describe());
        String tagsAfterMain = tags("team/cache");

        // A pull-request build with the read-only token: its --cache-to is refused, nothing lands.
        BuildahRoot b = new BuildahRoot(buildah, work.resolve("root-b"));
        Cmd.Result poison = b.run("build", "--isolation", "chroot", "--layers", "--tls-verify=false", "--creds", pr,
                "--cache-to", host + "/team/cache", "-f", prCtx.resolve("Containerfile"), "-t", "localhost/app", prCtx);
        String said = poison.output().toLowerCase(java.util.Locale.ROOT);
        assertTrue(said.contains("denied") || said.contains("403"), "buildah reports the refusal" + poison.describe());
        assertEquals(tagsAfterMain, tags("team/cache"), "the read-only token added no cache tag" + poison.describe());

        // The same token's --cache-from works: the main branch's input builds from the cache alone.
        BuildahRoot c = new BuildahRoot(buildah, work.resolve("root-c"));
        Cmd.Result reuse = c.ok("build", "--isolation", "chroot", "--layers", "--tls-verify=false", "--creds", pr,
                "--cache-from", host + "/team/cache", "-f", mainCtx.resolve("Containerfile"), "-t", "localhost/app",
                mainCtx);
        assertEquals(0, count(reuse.output()), "every step from the cache" + reuse.describe());
        assertTrue(reuse.output().contains("Cache pulled from remote " + host + "/team/cache"), reuse.describe());
        assertEquals(buildA.lastLine(), reuse.lastLine(), "the same image");
    }

    @Test
    void dockerLoginPushAndPull() throws Exception {
        dockerd = Dockerd.startOrReuse();
        String host = server.hostPort();
        Path config = Files.createDirectories(work.resolve("docker-config"));
        String image = host + "/team/docker:" + UUID.randomUUID().toString().substring(0, 8);
        Path baseCtx = BusyboxBase.create(work.resolve("basectx"));
        Path tar = work.resolve("base.tar");
        Cmd.of("tar", "-C", baseCtx.resolve("base"), "-cf", tar, ".").ok();
        docker(config, "import", tar, image).ok();

        Cmd.Result anonymous = docker(config, "push", image).run();
        assertNotEquals(0, anonymous.exitCode(), "a push before docker login is refused" + anonymous.describe());
        Cmd.Result wrong = docker(config, "login", host, "-u", "ci-main", "-p", "not-the-token").run();
        assertNotEquals(0, wrong.exitCode(), "docker login checks the password" + wrong.describe());
        Cmd.Result login = docker(config, "login", host, "-u", "ci-main", "-p", "main-token").ok();
        assertTrue(login.output().contains("Login Succeeded"), login.describe());
        docker(config, "push", image).ok();
        docker(config, "rmi", image).ok();
        docker(config, "pull", image).ok();
        docker(config, "rmi", image).ok();

        // BuildKit resolves FROM itself, with the credentials docker login stored: it must answer
        // the same challenge. Without them, its pull is refused.
        Path ctx = Files.createDirectories(work.resolve("bk"));
        Files.writeString(ctx.resolve("Dockerfile"), "FROM " + image + "\nRUN echo built > /built\n");
        Cmd.Result build = docker(config, "build", "--progress=plain", "--network", "none", "-t",
                "localhost/auth-bk:1", ctx).run();
        assertEquals(0, build.exitCode(), "BuildKit pulls the base with docker login's credentials" + build.describe());
        Path empty = Files.createDirectories(work.resolve("no-login"));
        docker(config, "rmi", "localhost/auth-bk:1").run();
        docker(config, "rmi", image).run();
        Cmd.Result refused = docker(empty, "build", "--progress=plain", "--network", "none", "--no-cache", "-t",
                "localhost/auth-bk:2", ctx).run();
        assertNotEquals(0, refused.exitCode(), "without credentials BuildKit's pull is refused" + refused.describe());
    }

    private static Cmd docker(Path config, Object... args) {
        return dockerd.dockerWithConfig(config, args);
    }

    private Path context(Path dir, String input) throws IOException {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("a.txt"), input + "\n");
        Files.writeString(dir.resolve("Containerfile"), String.join("\n", "FROM " + server.hostPort() + "/team/base:1",
                "RUN echo \"RAN-STEP-2 $(cat /proc/sys/kernel/random/uuid)\" && echo two > /two",
                "COPY a.txt /a.txt",
                "RUN echo \"RAN-STEP-4 $(cat /proc/sys/kernel/random/uuid)\" && cat /a.txt > /four", ""));
        return dir;
    }

    private static String tags(String repo) throws IOException {
        dev.layercache.server.testing.Http.Reply r = dev.layercache.server.testing.Http.exchange(server.port(), "GET",
                "/v2/" + repo + "/tags/list", List.of("Authorization: Bearer main-token"), null);
        assertEquals(200, r.status(), r.text());
        return r.text();
    }

    private static int count(String text) {
        Matcher m = RAN.matcher(text);
        int n = 0;
        while (m.find()) {
            n++;
        }
        return n;
    }
}
