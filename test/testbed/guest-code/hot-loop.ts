/**
 * The nested guests' program: a few hundred bytes of freestanding 32-bit
 * x86, assembled here at test time (no assembler on the path needed), in a
 * multiboot image QEMU's `-kernel` (libvirt `<os><kernel>`) loads at 1 MiB
 * and enters in flat protected mode (QEMU hw/i386/multiboot.c: the a.out
 * kludge, header flag bit 16, so a flat binary needs no ELF).
 *
 * What it does, so the test knows which guest-physical pages are hot:
 * 1. writes one dword in every 4 KiB page of [2 MiB, RAM end) once: the cold
 *    set is populated, like a guest that booted and then left it alone;
 * 2. builds an IDT and a stack inside the hot range, remaps the PIC, programs
 *    the PIT at `hz`;
 * 3. forever: increments one dword in every 4 KiB page of [hotStart,
 *    hotEnd), then `hlt` until the next timer tick. Halting keeps the vCPU
 *    off the (nested TCG, 2-core) CPU between ticks; the timer interrupt's
 *    IDT read and stack pushes stay inside the hot range too.
 *
 * Nothing else of the guest's RAM is touched after step 1 (the image itself
 * at 1 MiB is only read, once, when QEMU translates it). Guest-physical page
 * P (2 MiB units) is hot iff hotStart <= P * 2 MiB < hotEnd.
 */

export interface HotLoopOptions {
  /** guest RAM, MiB (the cold pass ends there) */
  ramMiB: number;
  /** hot range, guest-physical MiB, 2 MiB aligned; hotStartMiB >= 2 */
  hotStartMiB: number;
  hotEndMiB: number;
  /** timer ticks (hot passes) per second; default 100 */
  hz?: number;
}

const LOAD_ADDR = 0x100000;
const MULTIBOOT_MAGIC = 0x1badb002;
/** bit 16: the header carries load addresses (a.out kludge) */
const MULTIBOOT_FLAGS = 0x00010000;
const HEADER_BYTES = 32;
const PAGE_BYTES = 4096;
const MiB = 1 << 20;
const IDT_GATES = 48;
/** the PIT's input clock, Hz */
const PIT_HZ = 1193182;

/** A byte buffer with labels and rel8 jumps resolved at the end: all this program needs. */
class Emitter {
  private readonly bytes: number[] = [];
  private readonly labels = new Map<string, number>();
  private readonly rel8 = new Array<{ at: number; label: string }>();
  private readonly abs32 = new Array<{ at: number; label: string; add: number }>();

  get offset(): number {
    return this.bytes.length;
  }
  emit(...b: number[]): this {
    for (const x of b) {
      if (!Number.isInteger(x) || x < 0 || x > 0xff) throw new RangeError(`guest code: byte ${x} out of range`);
      this.bytes.push(x);
    }
    return this;
  }
  imm16(v: number): this {
    return this.emit(v & 0xff, (v >>> 8) & 0xff);
  }
  imm32(v: number): this {
    return this.emit(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
  }
  label(name: string): this {
    this.labels.set(name, this.bytes.length);
    return this;
  }
  /** a rel8 displacement to `label` (the opcode already emitted) */
  relTo(label: string): this {
    this.rel8.push({ at: this.bytes.length, label });
    return this.emit(0);
  }
  /** the load address of `label` + add, as imm32 */
  addrOf(label: string, add = 0): this {
    this.abs32.push({ at: this.bytes.length, label, add });
    return this.imm32(0);
  }
  finish(): Buffer {
    const out = Buffer.from(this.bytes);
    const at = (label: string): number => {
      const v = this.labels.get(label);
      if (v === undefined) throw new Error(`guest code: no label ${label}`);
      return v;
    };
    for (const f of this.rel8) {
      const d = at(f.label) - (f.at + 1);
      if (d < -128 || d > 127) throw new RangeError(`guest code: jump to ${f.label} out of rel8 range (${d})`);
      out.writeInt8(d, f.at);
    }
    for (const f of this.abs32) out.writeUInt32LE(LOAD_ADDR + at(f.label) + f.add, f.at);
    return out;
  }
}

function checkOptions(o: HotLoopOptions): void {
  const mib = (v: number, field: string, min: number, max: number): void => {
    if (!Number.isInteger(v) || v < min || v > max || v % 2 !== 0) throw new RangeError(`guest code: ${field} ${v}; allowed: even integers ${min}..${max} (MiB, 2 MiB pages)`);
  };
  mib(o.ramMiB, 'ramMiB', 4, 3072);
  mib(o.hotStartMiB, 'hotStartMiB', 2, o.ramMiB - 2);
  mib(o.hotEndMiB, 'hotEndMiB', o.hotStartMiB + 2, o.ramMiB);
  const hz = o.hz ?? 100;
  if (!Number.isInteger(hz) || hz < 19 || hz > 1000) throw new RangeError(`guest code: hz ${hz}; allowed: 19..1000`);
}

/** The multiboot image (flat binary, header first). */
export function buildHotLoopImage(o: HotLoopOptions): Buffer {
  checkOptions(o);
  const hotStart = o.hotStartMiB * MiB;
  const hotEnd = o.hotEndMiB * MiB;
  const ramEnd = o.ramMiB * MiB;
  // The IDT at the start of the hot range, the stack below +2 KiB; the hot
  // loop writes at +4092 of each page, clear of both.
  const idt = hotStart;
  const stackTop = hotStart + 0x800;
  const divisor = Math.round(PIT_HZ / (o.hz ?? 100));
  const a = new Emitter();

  // Multiboot header (a.out kludge): magic, flags, checksum, header/load/load_end/bss_end/entry addresses.
  a.imm32(MULTIBOOT_MAGIC).imm32(MULTIBOOT_FLAGS).imm32((-(MULTIBOOT_MAGIC + MULTIBOOT_FLAGS)) >>> 0);
  a.imm32(LOAD_ADDR).imm32(LOAD_ADDR).imm32(0).imm32(0).imm32(LOAD_ADDR + HEADER_BYTES);
  if (a.offset !== HEADER_BYTES) throw new Error('guest code: header size');

  a.emit(0xfa); //                                cli
  a.emit(0xbc).imm32(stackTop); //                mov esp, stackTop
  // 1. the cold pass: one write per 4 KiB page of [2 MiB, RAM end)
  a.emit(0xbf).imm32(2 * MiB); //                 mov edi, 2 MiB
  a.label('touch');
  a.emit(0x89, 0x3f); //                          mov [edi], edi
  a.emit(0x81, 0xc7).imm32(PAGE_BYTES); //        add edi, 4096
  a.emit(0x81, 0xff).imm32(ramEnd); //            cmp edi, ramEnd
  a.emit(0x72).relTo('touch'); //                 jb touch
  // 2. IDT: every gate -> `tick` (32-bit interrupt gate, present, DPL 0, selector = CS)
  a.emit(0x8c, 0xc8); //                          mov eax, cs
  a.emit(0xc1, 0xe0, 0x10); //                    shl eax, 16
  a.emit(0x66, 0xb8).imm16(0); const tickLow = a.offset - 2; // mov ax, tick[15:0] (patched below)
  a.emit(0xba).imm32(0); const tickHigh = a.offset - 4; //      mov edx, tick[31:16] << 16 | 0x8e00
  a.emit(0xbf).imm32(idt); //                     mov edi, idt
  a.emit(0xb9).imm32(IDT_GATES); //               mov ecx, 48
  a.label('gate');
  a.emit(0x89, 0x07); //                          mov [edi], eax
  a.emit(0x89, 0x57, 0x04); //                    mov [edi+4], edx
  a.emit(0x83, 0xc7, 0x08); //                    add edi, 8
  a.emit(0xe2).relTo('gate'); //                  loop gate
  a.emit(0x0f, 0x01, 0x1d).addrOf('idtr'); //     lidt [idtr]
  // PIC: ICW1..4, IRQ 0-7 at vectors 0x20.., 8-15 at 0x28..; only IRQ0 (the PIT) unmasked
  const out = (port: number, value: number): void => void a.emit(0xb0, value, 0xe6, port); // mov al, value; out port, al
  out(0x20, 0x11); out(0xa0, 0x11);
  out(0x21, 0x20); out(0xa1, 0x28);
  out(0x21, 0x04); out(0xa1, 0x02);
  out(0x21, 0x01); out(0xa1, 0x01);
  out(0x21, 0xfe); out(0xa1, 0xff);
  // PIT channel 0, mode 2 (rate generator), lobyte/hibyte
  out(0x43, 0x34); out(0x40, divisor & 0xff); out(0x40, (divisor >>> 8) & 0xff);
  a.emit(0xfb); //                                sti
  // 3. the hot loop
  a.label('hot');
  a.emit(0xbf).imm32(hotStart + PAGE_BYTES - 4); // mov edi, hotStart + 4092
  a.label('hotpage');
  a.emit(0xff, 0x07); //                          inc dword [edi]
  a.emit(0x81, 0xc7).imm32(PAGE_BYTES); //        add edi, 4096
  a.emit(0x81, 0xff).imm32(hotEnd); //            cmp edi, hotEnd
  a.emit(0x72).relTo('hotpage'); //               jb hotpage
  a.emit(0xf4); //                                hlt
  a.emit(0xeb).relTo('hot'); //                   jmp hot
  // the timer interrupt: end of interrupt to the master PIC, return
  a.label('tick');
  const tickAt = a.offset;
  a.emit(0x50); //                                push eax
  out(0x20, 0x20); //                             mov al, 0x20; out 0x20, al
  a.emit(0x58); //                                pop eax
  a.emit(0xcf); //                                iret
  a.label('idtr');
  a.imm16(IDT_GATES * 8 - 1).imm32(idt);
  const image = a.finish();
  const tick = LOAD_ADDR + tickAt;
  image.writeUInt16LE(tick & 0xffff, tickLow);
  image.writeUInt32LE(((tick & 0xffff0000) | 0x8e00) >>> 0, tickHigh);
  return image;
}

/** Guest-physical 2 MiB page indices of the hot range. */
export function hotGuestPages(o: HotLoopOptions): number[] {
  checkOptions(o);
  const out: number[] = [];
  for (let p = o.hotStartMiB / 2; p < o.hotEndMiB / 2; p++) out.push(p);
  return out;
}
