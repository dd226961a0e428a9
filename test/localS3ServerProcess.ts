/**
 * s3rver on a free loopback port, its objects in <directory>, with <bucket…> created: what
 * test/localS3Server.ts starts. Usage: tsx test/localS3ServerProcess.ts <directory> <bucket…>.
 * Prints the port once it listens; SIGTERM ends it (nothing to flush: every object is a file).
 */
import S3rver from "s3rver";

const [directory, ...buckets] = process.argv.slice(2);
if (directory === undefined) throw new Error("usage: localS3ServerProcess.ts <directory> <bucket…>");
const server = new S3rver({
  address: "127.0.0.1",
  port: 0,
  silent: true,
  directory,
  configureBuckets: buckets.map((name) => ({ name })),
});
const { port } = await server.run();
console.log(port);
