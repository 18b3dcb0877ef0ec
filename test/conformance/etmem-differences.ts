/**
 * The llt cases where virt-tier answers differently from etmem on purpose:
 * the case id, virt-tier's answer, and why. Each is also a row of
 * docs/etmem-compatibility.md ("Deliberate differences"); the conformance
 * test fails when a listed case no longer gives the listed answer, so this
 * list stays true.
 */
export interface Difference {
  /** virt-tier's answer to the case's step */
  got: string;
  reason: string;
}

export const DIFFERENCES: Record<string, Difference> = {
  'sh.slide.swap_project_unpinned': {
    got: 'OPT_SUCCESS',
    reason:
      'a [project] without scan_type loads as scan_type=page: etmem at e7f9a19 requires the key, but files written for etmem releases before it lack it and mean page; refusing them would break those users for no gain',
  },
};
