/*
 * Intel MultiProcessor Specification 1.4 tables: the floating pointer
 * ("_MP_", 16-byte aligned in 0xF0000-0xFFFFF) points to a configuration
 * table ("PCMP") whose processor entries carry the APIC ids. brood-vmm puts
 * the pointer at exactly 0xF0000, so the scan usually ends on the first try.
 */
#include "layout.h"
#include "smp.h"

#define MP_FLOAT_SIG 0x5F504D5F  /* "_MP_" */
#define MP_CONFIG_SIG 0x504D4350 /* "PCMP" */
#define SCAN_START 0xF0000
#define SCAN_END 0x100000

struct mp_float {
	u32 signature;
	u32 config_paddr;
	u8 length; /* in 16-byte units */
	u8 spec_rev;
	u8 checksum;
	u8 features[5]; /* features[0] != 0: a "default configuration", no table */
} __attribute__((packed));

struct mp_config {
	u32 signature;
	u16 base_length;
	u8 spec_rev;
	u8 checksum;
	char oem_id[8];
	char product_id[12];
	u32 oem_table_paddr;
	u16 oem_table_size;
	u16 entry_count;
	u32 lapic_paddr;
	u16 ext_length;
	u8 ext_checksum;
	u8 reserved;
} __attribute__((packed));

enum { MP_PROCESSOR = 0, MP_IOAPIC = 2 };

struct mp_processor {
	u8 type;
	u8 apic_id;
	u8 apic_version;
	u8 flags; /* bit 0: enabled, bit 1: bootstrap processor */
	u32 signature;
	u32 features;
	u32 reserved[2];
} __attribute__((packed));

struct mp_ioapic {
	u8 type;
	u8 id;
	u8 version;
	u8 flags; /* bit 0: usable */
	u32 paddr;
} __attribute__((packed));

static const struct mp_float *find_float(void)
{
	for (u64 a = SCAN_START; a < SCAN_END; a += 16) {
		const struct mp_float *f = (const struct mp_float *)a;
		const u8 *b = (const u8 *)a;
		u8 sum = 0;

		if (f->signature != MP_FLOAT_SIG)
			continue;
		for (u32 i = 0; i < 16; i++)
			sum = (u8)(sum + b[i]);
		if (sum == 0 && f->config_paddr && f->features[0] == 0)
			return f;
	}
	return NULL;
}

u32 mptable_read(u32 *apic_ids, u32 max, u64 *ioapic)
{
	const struct mp_float *f = find_float();
	const struct mp_config *c;
	const u8 *p, *end;
	u32 n = 0;

	if (!f)
		return 0;
	c = (const struct mp_config *)(u64)f->config_paddr;
	if (c->signature != MP_CONFIG_SIG || c->base_length < sizeof(*c))
		return 0;
	p = (const u8 *)(c + 1);
	end = (const u8 *)c + c->base_length;
	for (u32 i = 0; i < c->entry_count && p < end; i++) {
		if (p[0] == MP_PROCESSOR) {
			const struct mp_processor *cpu = (const struct mp_processor *)p;

			if ((cpu->flags & 1) && n < max)
				apic_ids[n++] = cpu->apic_id;
			p += sizeof(*cpu);
		} else {
			const struct mp_ioapic *io = (const struct mp_ioapic *)p;

			if (p[0] == MP_IOAPIC && (io->flags & 1) && io->paddr)
				*ioapic = io->paddr;
			p += 8; /* every other entry type is 8 bytes */
		}
	}
	return n;
}
