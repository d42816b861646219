package dev.layercache.server.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The server as a separate operating-system process (the same classes this test run uses), for
 * what an in-JVM server cannot show: {@code kill -9}, SIGTERM, exit codes.
 */
public final class ServerProcess implements AutoCloseable {
    private static final Pattern LISTENING = Pattern.compile("HTTP .*listening on .*:(\\d+) ");
    private static final Pattern GRPC_LISTENING = Pattern.compile("gRPC .*listening on \\S*:(\\d+) ");

    private final Process process;
    private final Path log;
    private final int port;
    private final int grpcPort;

    private ServerProcess(Process process, Path log, int port, int grpcPort) {
        this.process = process;
        this.log = log;
        this.port = port;
        this.grpcPort = grpcPort;
    }

    /** Runs {@code Main} with {@code args} and returns once it serves HTTP (or throws with its log). */
    public static ServerProcess start(Path dataDir, Path log, String... args) throws Exception {
        return start(dataDir, log, List.of("-Xmx512m"), args);
    }

    /** As {@link #start(Path, Path, String...)}, with JVM options such as a heap limit. */
    public static ServerProcess start(Path dataDir, Path log, List<String> jvmOptions, String... args)
            throws Exception {
        List<String> command = command(jvmOptions, args);
        command.add("--data-dir");
        command.add(dataDir.toString());
        // Port 0 unless the caller names one: a port a test reserved and released beforehand may
        // be handed out again by the kernel to this process's other listener.
        for (String port : List.of("--http-port", "--grpc-port")) {
            if (!List.of(args).contains(port)) {
                command.add(port);
                command.add("0");
            }
        }
        command.add("--bind-address");
        command.add("127.0.0.1");
        Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (System.nanoTime() < deadline) {
            String text = Files.exists(log) ? Files.readString(log) : "";
            Matcher m = LISTENING.matcher(text);
            Matcher g = GRPC_LISTENING.matcher(text);
            if (text.contains("layercache ready") && m.find() && g.find()) {
                return new ServerProcess(p, log, Integer.parseInt(m.group(1)), Integer.parseInt(g.group(1)));
            }
            if (!p.isAlive()) {
                throw new IllegalStateException("server exited with " + p.exitValue() + ":\n" + text);
            }
            Thread.sleep(50);
        }
        p.destroyForcibly();
        throw new IllegalStateException("server did not start within 60 s:\n" + Files.readString(log));
    }

    /** The java command line that runs {@code Main} with this test run's class path. */
    public static List<String> command(String... args) {
        return command(List.of("-Xmx512m"), args);
    }

    private static List<String> command(List<String> jvmOptions, String... args) {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.addAll(jvmOptions);
        command.add("-cp");
        command.add(System.getProperty("java.class.path"));
        command.add("dev.layercache.server.Main");
        command.addAll(List.of(args));
        return command;
    }

    /** The HTTP port. */
    public int port() {
        return port;
    }

    public int grpcPort() {
        return grpcPort;
    }

    public Process process() {
        return process;
    }

    public String log() throws IOException {
        return Files.readString(log);
    }

    /** SIGKILL: no shutdown hook, no flush, nothing. */
    public void kill9() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor(30, TimeUnit.SECONDS);
    }

    /** SIGTERM, then waits for the exit; returns the exit code. */
    public int terminate(long timeoutSeconds) throws InterruptedException {
        process.destroy();
        if (!process.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            throw new IllegalStateException("server ignored SIGTERM for " + timeoutSeconds + " s");
        }
        return process.exitValue();
    }

    @Override
    public void close() throws InterruptedException {
        if (process.isAlive()) {
            kill9();
        }
    }
}
