package dev.layercache.client;

import static java.util.Objects.requireNonNull;

import io.grpc.Status;
import java.time.Duration;

/**
 * A failed attempt that will be retried.
 *
 * @param operation what was attempted, for example {@code GetEntry} or {@code ReadBlob sha256:ab12...}
 * @param attempt the number of the attempt that failed, from 1
 * @param maxAttempts the attempts the retry policy allows
 * @param code the status code of the failure
 * @param description the failure's description
 * @param delay how long the client waits before the next attempt
 */
public record RetryEvent(String operation, int attempt, int maxAttempts, Status.Code code, String description,
                         Duration delay) {

    /** Validates the fields. */
    public RetryEvent {
        requireNonNull(operation, "operation");
        requireNonNull(code, "code");
        requireNonNull(description, "description");
        requireNonNull(delay, "delay");
    }
}
