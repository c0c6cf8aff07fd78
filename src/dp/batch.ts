/**
 * Bulk onboarding's order (R19, R22): submissions for one CSI run one after the other, in request
 * order, so a later one may supersede an earlier one; different CSIs are independent and run at
 * once. For each item, the index of the item it waits for (the previous item of the same CSI), or
 * undefined. An item without a CSI (it did not decode) waits for nothing and nobody waits for it.
 */
export function batchOrder(csis: readonly (string | undefined)[]): (number | undefined)[] {
  const last = new Map<string, number>();
  return csis.map((csi, i) => {
    if (csi === undefined) return undefined;
    const before = last.get(csi);
    last.set(csi, i);
    return before;
  });
}
