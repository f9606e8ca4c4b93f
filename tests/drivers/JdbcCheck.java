// JdbcCheck: pgJDBC with its defaults (a statement run prepareThreshold = 5
// times becomes a named server-side statement "S_n") through a pooler.
// CLIENTS connections at once each run ROUNDS queries and transactions and
// check every value; exits 1 with the first failure. Run as a single source
// file by tests/integration/test_drivers.py with Debian's libpostgresql-jdbc-java:
//   java -cp /usr/share/java/postgresql.jar JdbcCheck.java URL USER CLIENTS ROUNDS
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;

public class JdbcCheck {
	static void client(String url, String user, int i, int rounds) throws Exception {
		try (Connection conn = DriverManager.getConnection(url, user, "")) {
			PreparedStatement sum = conn.prepareStatement("SELECT ?::int * 1000 + ?::int");
			PreparedStatement text = conn.prepareStatement("SELECT ?::text || '-' || ?::text");
			for (int j = 0; j < rounds; j++) {
				sum.setInt(1, i);
				sum.setInt(2, j);
				try (ResultSet rs = sum.executeQuery()) {
					rs.next();
					if (rs.getInt(1) != i * 1000 + j)
						throw new Exception("client " + i + " round " + j + ": got " + rs.getInt(1));
				}
				conn.setAutoCommit(false);
				text.setString(1, Integer.toString(i));
				text.setString(2, Integer.toString(j));
				try (ResultSet rs = text.executeQuery()) {
					rs.next();
					if (!rs.getString(1).equals(i + "-" + j))
						throw new Exception("client " + i + " round " + j + ": got " + rs.getString(1));
				}
				conn.commit();
				conn.setAutoCommit(true);
			}
		}
	}

	public static void main(String[] args) throws Exception {
		String url = args[0], user = args[1];
		int clients = Integer.parseInt(args[2]), rounds = Integer.parseInt(args[3]);
		ConcurrentLinkedQueue<Throwable> errors = new ConcurrentLinkedQueue<>();
		List<Thread> threads = new ArrayList<>();
		for (int i = 0; i < clients; i++) {
			final int n = i;
			Thread t = new Thread(() -> {
				try {
					client(url, user, n, rounds);
				} catch (Throwable e) {
					errors.add(e);
				}
			});
			threads.add(t);
			t.start();
		}
		for (Thread t : threads)
			t.join();
		for (Throwable e : errors)
			System.err.println(e);
		if (!errors.isEmpty())
			System.exit(1);
		System.out.println("ok: " + clients + " clients x " + rounds + " rounds");
	}
}
