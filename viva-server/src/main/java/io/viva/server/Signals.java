package io.viva.server;

import java.lang.reflect.InvocationHandler;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;

/**
 * Turns SIGTERM and SIGINT into an orderly {@code System.exit(0)}: the JVM's default would run the
 * shutdown hooks too, but then exit with 143 or 130, and a supervisor would count a clean stop as a
 * failure. Uses {@code sun.misc.Signal} (module jdk.unsupported) reflectively; where it is missing
 * the JVM's default handling remains, which still shuts down gracefully.
 */
final class Signals {

  private Signals() {}

  /** Installs handlers that call {@code onSignal} (once per signal) on a new thread. */
  static boolean install(Runnable onSignal) {
    try {
      Class<?> signalClass = Class.forName("sun.misc.Signal");
      Class<?> handlerClass = Class.forName("sun.misc.SignalHandler");
      InvocationHandler ih = (proxy, method, args) -> {
        switch (method.getName()) {
          case "handle" -> {
            Thread t = new Thread(onSignal, "viva-signal");
            t.start();
            return null;
          }
          case "hashCode" -> {
            return System.identityHashCode(proxy);
          }
          case "equals" -> {
            return proxy == args[0];
          }
          case "toString" -> {
            return "viva-signal-handler";
          }
          default -> {
            return null;
          }
        }
      };
      Object handler = Proxy.newProxyInstance(Signals.class.getClassLoader(), new Class<?>[] {handlerClass}, ih);
      Method handle = signalClass.getMethod("handle", signalClass, handlerClass);
      for (String name : new String[] {"TERM", "INT"}) {
        handle.invoke(null, signalClass.getConstructor(String.class).newInstance(name), handler);
      }
      return true;
    } catch (ReflectiveOperationException | RuntimeException | LinkageError e) {
      return false;
    }
  }
}
