// A known mix of MySQL commands for redeye's kernel tests: plain queries
// (COM_QUERY), server-side prepared statements (COM_STMT_PREPARE once per
// text, COM_STMT_EXECUTE per call), and failing queries. Prints what it
// did as JSON so the test compares the agent's counts with it.
const mysql = require('mysql2/promise');

async function main() {
  const [port, plain, prepared, failing] = process.argv.slice(2, 6).map(Number);
  const conn = await mysql.createConnection({
    host: '127.0.0.1', port, user: 'redeye', password: 'redeye', database: 'shop',
  });
  const done = { insert: 0, select: 0, execute_select: 0, execute_insert: 0, errors: 0, prepares: 0 };
  for (let i = 0; i < plain; i++) {
    await conn.query('INSERT INTO orders (item) VALUES (?)', [`plain-${i}`]);  // client-side escaping: COM_QUERY
    done.insert++;
    await conn.query('SELECT COUNT(*) AS n FROM orders');
    done.select++;
  }
  for (let i = 0; i < prepared; i++) {
    await conn.execute('SELECT id, item FROM orders WHERE id > ?', [i]);
    done.execute_select++;
    await conn.execute('INSERT INTO orders (item) VALUES (?)', [`prep-${i}`]);
    done.execute_insert++;
  }
  done.prepares = prepared > 0 ? 2 : 0;  // mysql2 prepares each text once per connection
  for (let i = 0; i < failing; i++) {
    try {
      await conn.query('SELECT * FROM no_such_table');
    } catch (e) {
      if (e.errno !== 1146) throw e;
      done.errors++;
    }
  }
  await conn.end();
  console.log(JSON.stringify(done));
}

main().catch((e) => { console.error(e.message); process.exit(1); });
