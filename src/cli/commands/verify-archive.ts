/**
 * `ferry verify-archive ARCHIVE`: checks an OCI archive or a `docker save` archive before it is trusted (every blob's
 * size and digest, every manifest) and reports its images, their sizes and platforms, what it expects at the
 * destination and what it builds on. A damaged archive exits non-zero, naming every image and blob at fault.
 */
import type { CommandSpec } from '../command.js';
import { write } from '../io.js';
import { printJson } from '../output/json.js';
import { formatBytes } from '../output/progress.js';
import { FerryError, ErrorCode } from '../../errors.js';
import type { ArchiveProblem, ArchiveReport } from '../../types/archive-report.js';

/** `image "app:1": blob sha256:…: digest mismatch …` */
export function problemLine(p: ArchiveProblem): string {
  return [p.image !== '' ? `image ${JSON.stringify(p.image)}` : '', p.blob !== '' ? `blob ${p.blob}` : '', p.problem].filter((s) => s !== '').join(': ');
}

/** The text report. */
export function reportText(r: ArchiveReport): string {
  const lines: string[] = [];
  const n = r.images.length;
  lines.push(`${r.format === 'oci' ? 'OCI archive' : 'Docker archive'} ${r.archive}: ${n} image${n === 1 ? '' : 's'}, ${r.blobs} blob${r.blobs === 1 ? '' : 's'}, ${formatBytes(r.size)}`);
  const width = Math.max(4, ...r.images.map((i) => i.name.length));
  for (const i of r.images) {
    const platforms = i.platforms.length > 0 ? `  ${i.platforms.join(',')}` : '';
    lines.push(`  ${i.name.padEnd(width)}  ${i.digest || '-'}  ${i.blobs} blobs  ${formatBytes(i.size)}${platforms}  ${i.ok ? 'ok' : 'DAMAGED'}`);
  }
  if (r.buildsOn.length > 0) lines.push(`Builds on: ${r.buildsOn.map((b) => `${b.name} (${b.digest})`).join(', ')}`);
  if (r.expects.length > 0) lines.push(`Expects at the destination: ${r.expects.length} blob${r.expects.length === 1 ? '' : 's'}: ${r.expects.join(', ')}`);
  if (r.unreferenced.length > 0) lines.push(`Unreferenced blobs: ${r.unreferenced.length}`);
  for (const p of r.problems) lines.push(`Problem: ${problemLine(p)}`);
  lines.push(r.problems.length === 0 ? 'OK' : `DAMAGED: ${r.problems.length} problem${r.problems.length === 1 ? '' : 's'}`);
  return lines.join('\n') + '\n';
}

const spec: CommandSpec = {
  command: 'verify-archive ARCHIVE',
  describe: 'Check every blob and manifest of an image archive before importing it',
  builder: (y) =>
    y
      .positional('ARCHIVE', { type: 'string', describe: 'an OCI archive (oci-archive:) or docker archive (docker-archive:) file' })
      .options({
        format: { type: 'string', choices: ['text', 'json'], default: 'text', describe: 'output format', requiresArg: true },
      })
      .example('$0 verify-archive /media/usb/mirror.tar', 'check an archive before importing it')
      .example('$0 verify-archive --format json mirror.tar', 'the same report as JSON'),
  async handler(args, cli) {
    const path = String(args['ARCHIVE']);
    const { verifyArchive } = await import('../../transports/shared/verify-archive.js');
    const report = await verifyArchive(path, { signal: cli.signal, tmpDir: args['tmpdir'] as string | undefined });
    if (args['format'] === 'json') await printJson(cli.io.stdout, report);
    else await write(cli.io.stdout, reportText(report));
    if (report.problems.length > 0) {
      const [first] = report.problems;
      const more = report.problems.length > 1 ? ` (and ${report.problems.length - 1} more problem${report.problems.length === 2 ? '' : 's'})` : '';
      throw new FerryError(ErrorCode.DigestMismatch, `archive ${path} is damaged: ${problemLine(first!)}${more}`);
    }
  },
};
export default spec;
