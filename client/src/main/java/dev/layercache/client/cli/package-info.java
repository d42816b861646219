/**
 * The {@code layercache} command-line tool ({@code java -jar layercache.jar <command>}), built on
 * the public client API. Its entry point is {@link dev.layercache.client.cli.Main}.
 */
package dev.layercache.client.cli;
