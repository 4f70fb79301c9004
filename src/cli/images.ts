import { Option, type Command } from 'commander';
import { getEngine } from './context.js';
import { printItems, printInspect, humanDuration, humanSize } from './format.js';
import { imageListView, imageInspectView } from '../app/views.js';
import { PeapodError } from '../../engine/errors.js';

import { registerTrustCommands } from './trust.js';
import { collect } from './flags.js';

function splitName(n: string): [string, string] {
  const at = n.lastIndexOf(':');
  return at > n.lastIndexOf('/') ? [n.slice(0, at), n.slice(at + 1)] : [n, 'latest'];
}

async function listImages(cmd: Command, o: { format?: string; quiet?: boolean; trunc: boolean; noHeading?: boolean; digests?: boolean }) {
  const engine = await getEngine(cmd);
  const [images, containers] = await Promise.all([engine.images.list(), engine.containers.records()]);
  const views = images.map((i) => imageListView(i, containers.filter((c) => c.imageId === i.id).length));
  const rows = views.flatMap((v) => (v.Names.length ? v.Names : ['<none>:<none>']).map((n) => ({ v, n })));
  const id = (s: string) => (o.trunc ? s.slice(0, 12) : s);
  if (o.format === 'json' || o.quiet) {
    printItems(views, o.format, { headers: [], row: () => [] }, { quiet: (v) => id(v.Id), quietMode: o.quiet });
    return;
  }
  if (o.format) {
    // Podman's image templates: one row per name, with .Repository, .Tag and a short .ID
    printItems(rows, o.format, { headers: [], row: () => [] }, {
      noHeading: o.noHeading,
      templateView: ({ v, n }) => {
        const [Repository, Tag] = n === '<none>:<none>' ? ['<none>', '<none>'] : splitName(n);
        return { ...v, Repository, Tag, ID: id(v.Id), CreatedSince: `${humanDuration(Date.now() - v.Created * 1000)} ago`, CreatedAt: v.CreatedAt, Size: humanSize(v.Size) };
      },
    });
    return;
  }
  printItems(rows, undefined, {
    // --digests adds Podman's DIGEST column after TAG
    headers: ['REPOSITORY', 'TAG', ...(o.digests ? ['DIGEST'] : []), 'IMAGE ID', 'CREATED', 'SIZE'],
    row: ({ v, n }) => {
      const [repo, tag] = n === '<none>:<none>' ? ['<none>', '<none>'] : splitName(n);
      return [repo, tag, ...(o.digests ? [v.Digest] : []), id(v.Id), `${humanDuration(Date.now() - v.Created * 1000)} ago`, humanSize(v.Size)];
    },
  }, { noHeading: o.noHeading });
}

/** `load`: prints the names the archive brought (an image already known under them keeps its ID). */
async function loadImages(cmd: Command, o: { input: string; quiet?: boolean }): Promise<void> {
  const { loadImages: load } = await import('../app/images.js');
  const names = await load(() => getEngine(cmd), o.input);
  if (o.quiet) return;
  process.stdout.write(names.map((l) => `Loaded image: ${l}\n`).join(''));
}

export function registerImageCommands(program: Command): void {
  const image = program.command('image').description('manage images');
  registerTrustCommands(image);
  const addList = (c: Command) => c
    .option('--format <format>', 'json, or a Go template')
    .option('-q, --quiet', 'print only image IDs')
    .option('--no-trunc', 'do not truncate output')
    .option('-n, --noheading', 'do not print column headings')
    .option('--digests', 'show the manifest digest')
    .option('-a, --all', 'accepted for Podman scripts: peapod stores no intermediate images')
    .action(async (o: any, cmd: Command) => listImages(cmd, { ...o, noHeading: o.noheading }));
  addList(program.command('images').description('list images'));
  addList(image.command('ls').alias('list').description('list images'));

  image.command('load').description('load images from an OCI or docker archive')
    .requiredOption('-i, --input <file>', 'archive to read')
    .option('-q, --quiet', 'suppress output')
    .action(async (o: { input: string; quiet?: boolean }, cmd: Command) => loadImages(cmd, o));
  program.command('load').description('load images from an OCI or docker archive')
    .requiredOption('-i, --input <file>', 'archive to read')
    .option('-q, --quiet', 'suppress output')
    .action(async (o: { input: string; quiet?: boolean }, cmd: Command) => loadImages(cmd, o));

  const addSave = (c: Command) => c
    .argument('<images...>', 'images to save (several: a multi-image docker-archive)')
    .option('-o, --output <file>', 'write to this file (default: stdout, which must be redirected)')
    .addOption(new Option('--format <format>', 'archive format').choices(['docker-archive', 'oci-archive']).default('docker-archive'))
    .option('-m, --multi-image-archive', 'several images in one docker-archive (implied by several images)')
    .option('-q, --quiet', 'suppress output')
    .action(async (refs: string[], o: { output?: string; format: 'docker-archive' | 'oci-archive' }, cmd: Command) => {
      if (!o.output && process.stdout.isTTY) throw new PeapodError('invalid', 'refusing to save to terminal. Use -o flag or redirect');
      const { saveImages } = await import('../app/images.js');
      await saveImages(() => getEngine(cmd), refs, o.output, o.format);
    });
  addSave(program.command('save').description('save images to an archive'));
  addSave(image.command('save').description('save images to an archive'));

  const addImport = (c: Command) => c
    .argument('<file>', 'rootfs tarball, or - for stdin')
    .argument('[name]', 'image name')
    .option('-c, --change <instruction>', 'apply a Dockerfile instruction (CMD, ENTRYPOINT, ENV, WORKDIR, USER, LABEL, EXPOSE, ...)', collect)
    .option('-m, --message <text>', 'commit message')
    .option('-q, --quiet', 'print only the image ID')
    .action(async (file: string, name: string | undefined, o: { change?: string[]; message?: string }, cmd: Command) => {
      const img = await (await getEngine(cmd)).images.importTar(file, { name, changes: o.change, message: o.message });
      process.stdout.write(`${img.id}\n`);
    });
  addImport(program.command('import').description('create an image from a rootfs tarball'));
  addImport(image.command('import').description('create an image from a rootfs tarball'));

  const addRm = (c: Command) => c
    .argument('[images...]')
    .option('-f, --force', 'also remove containers using the image')
    .option('-a, --all', 'remove all images')
    .option('-i, --ignore', 'ignore images that do not exist')
    .action(async (refs: string[], o: { force?: boolean; all?: boolean; ignore?: boolean }, cmd: Command) => {
      const engine = await getEngine(cmd);
      if (o.all) refs = [...refs, ...(await engine.images.list()).map((i) => i.id)];
      if (!refs.length) throw new PeapodError('invalid', 'image name or ID must be specified');
      let first: unknown;
      for (const ref of refs) {
        try {
          if (o.ignore && !(await engine.images.get(ref).catch(() => undefined))) continue;
          const r = await engine.removeImage(ref, o.force);
          for (const u of r.untagged) process.stdout.write(`Untagged: ${u}\n`);
          if (r.deleted) process.stdout.write(`Deleted: ${r.deleted}\n`);
        } catch (err) {
          if (first) process.stderr.write(`Error: ${(err as Error).message}\n`);
          else first = err;
        }
      }
      if (first) throw first;
    });
  addRm(program.command('rmi').description('remove images'));
  addRm(image.command('rm').description('remove images'));

  const addInspect = (c: Command) => c
    .argument('<images...>')
    .option('-f, --format <format>', 'json, or a Go template')
    .action(async (refs: string[], o: { format?: string }, cmd: Command) => {
      const engine = await getEngine(cmd);
      const out = [];
      for (const ref of refs) {
        const img = await engine.images.get(ref);
        if (!img) throw new PeapodError('not-found', `${ref}: image not known`);
        out.push(imageInspectView(engine, img));
      }
      printInspect(out, o.format);
    });
  addInspect(image.command('inspect').description('show details of images'));

  const addTag = (c: Command) => c.argument('<image>').argument('<names...>').action(async (ref: string, names: string[], _o: unknown, cmd: Command) => {
    const engine = await getEngine(cmd);
    for (const n of names) await engine.images.tag(ref, n);
  });
  addTag(program.command('tag').description('add names to an image'));
  addTag(image.command('tag').description('add names to an image'));
}
