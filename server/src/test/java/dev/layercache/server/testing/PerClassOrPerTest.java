package dev.layercache.server.testing;

import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * A fixture that starts once per class when registered as a static field with
 * {@code @RegisterExtension}, and once per test when registered as an instance field (JUnit calls
 * {@code beforeAll} only for static extensions).
 */
abstract class PerClassOrPerTest implements BeforeAllCallback, AfterAllCallback, BeforeEachCallback,
        AfterEachCallback {
    private boolean perClass;

    public abstract void start() throws Exception;

    public abstract void stop() throws Exception;

    @Override
    public final void beforeAll(ExtensionContext context) throws Exception {
        perClass = true;
        start();
    }

    @Override
    public final void afterAll(ExtensionContext context) throws Exception {
        stop();
    }

    @Override
    public final void beforeEach(ExtensionContext context) throws Exception {
        if (!perClass) {
            start();
        }
    }

    @Override
    public final void afterEach(ExtensionContext context) throws Exception {
        if (!perClass) {
            stop();
        }
    }
}
