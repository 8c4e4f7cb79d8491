//! The iteration order of a CPython 3.11 `set` (`Objects/setobject.c`), which orders DCRF's
//! events of one change (PROFILE-NOTES 6.11, SPEC §5.7.3).
//!
//! A set is an open-addressing table of 8 slots or more. A member goes to slot
//! `hash & mask`; on a collision the next 9 slots are probed when they fit in the table, then
//! `i = (i * 5 + 1 + perturb) & mask` with `perturb >>= 5` first. A removal leaves a dummy;
//! an insertion takes the last dummy met along its probe sequence before an empty slot
//! (observed: F1.8), else the empty slot; when that makes `fill * 5 >= mask * 3` the table is
//! rebuilt with the smallest power of two above `4 * used` slots, members in the old slot
//! order.

use crate::registry::SubscriptionKey;

const LINEAR_PROBES: usize = 9;
const PERTURB_SHIFT: u32 = 5;
/// Python's hash modulus for numbers, 2**61 - 1.
const MODULUS: u64 = (1 << 61) - 1;

#[derive(Debug, Clone, Copy)]
enum Slot {
    Empty,
    Dummy,
    Member { hash: u64, id: u64 },
}

/// The slots of one set of subscription ids; the ids are the caller's.
#[derive(Debug, Clone)]
pub(crate) struct PySet {
    table: Vec<Slot>,
    fill: usize,
    used: usize,
}

impl Default for PySet {
    fn default() -> Self {
        PySet {
            table: vec![Slot::Empty; 8],
            fill: 0,
            used: 0,
        }
    }
}

impl PySet {
    /// Adds a member known not to be in the set (`set_add_entry`): the last dummy met
    /// along the probe sequence before an empty slot is reused (with no resize), else the
    /// empty slot is taken.
    pub(crate) fn insert(&mut self, hash: u64, id: u64) {
        let mask = self.table.len() - 1;
        let (slot, dummy) = add_slot(&self.table, hash, mask);
        if let Some(dummy) = dummy {
            self.table[dummy] = Slot::Member { hash, id };
            self.used += 1;
            return;
        }
        self.table[slot] = Slot::Member { hash, id };
        self.fill += 1;
        self.used += 1;
        if self.fill * 5 >= mask * 3 {
            let min_used = if self.used > 50_000 {
                self.used * 2
            } else {
                self.used * 4
            };
            self.resize(min_used);
        }
    }

    /// Removes the member `id`, leaving a dummy.
    pub(crate) fn remove(&mut self, id: u64) {
        if let Some(slot) = self
            .table
            .iter_mut()
            .find(|slot| matches!(slot, Slot::Member { id: member, .. } if *member == id))
        {
            *slot = Slot::Dummy;
            self.used -= 1;
        }
    }

    /// The members in iteration order.
    pub(crate) fn order(&self) -> impl Iterator<Item = u64> + '_ {
        self.table.iter().filter_map(|slot| match slot {
            Slot::Member { id, .. } => Some(*id),
            _ => None,
        })
    }

    fn resize(&mut self, min_used: usize) {
        let mut size = 8;
        while size <= min_used {
            size <<= 1;
        }
        let old = std::mem::replace(&mut self.table, vec![Slot::Empty; size]);
        let mask = size - 1;
        for slot in old {
            if let Slot::Member { hash, id } = slot {
                let at = free_slot(&self.table, hash, mask, |slot| matches!(slot, Slot::Empty));
                self.table[at] = Slot::Member { hash, id };
            }
        }
        self.fill = self.used;
    }
}

/// The first empty slot along the probe sequence of `hash`, and the last dummy before it.
fn add_slot(table: &[Slot], hash: u64, mask: usize) -> (usize, Option<usize>) {
    let mut perturb = hash;
    let mut i = (hash as usize) & mask;
    let mut dummy = None;
    loop {
        let probes = if i + LINEAR_PROBES <= mask {
            LINEAR_PROBES
        } else {
            0
        };
        for (offset, slot) in table[i..=i + probes].iter().enumerate() {
            match slot {
                Slot::Empty => return (i + offset, dummy),
                Slot::Dummy => dummy = Some(i + offset),
                Slot::Member { .. } => {}
            }
        }
        perturb >>= PERTURB_SHIFT;
        i = (i
            .wrapping_mul(5)
            .wrapping_add(1)
            .wrapping_add(perturb as usize))
            & mask;
    }
}

/// The first slot `free` accepts along the probe sequence of `hash`.
fn free_slot(table: &[Slot], hash: u64, mask: usize, free: impl Fn(&Slot) -> bool) -> usize {
    let mut perturb = hash;
    let mut i = (hash as usize) & mask;
    loop {
        let probes = if i + LINEAR_PROBES <= mask {
            LINEAR_PROBES
        } else {
            0
        };
        if let Some(offset) = table[i..=i + probes].iter().position(&free) {
            return i + offset;
        }
        perturb >>= PERTURB_SHIFT;
        i = (i
            .wrapping_mul(5)
            .wrapping_add(1)
            .wrapping_add(perturb as usize))
            & mask;
    }
}

/// Python's `hash()` of a request_id, as a `size_t`. Integers (and booleans, integral
/// floats) hash to their value modulo 2**61 - 1 with their sign, -1 as -2; other floats as
/// `_Py_HashDouble`; strings hash with a per-process random seed in Python, so any
/// deterministic hash is as faithful.
pub(crate) fn python_hash(key: &SubscriptionKey) -> u64 {
    let signed: i64 = match key {
        SubscriptionKey::Integer(text) => {
            let (negative, digits) = match text.strip_prefix('-') {
                Some(digits) => (true, digits),
                None => (false, text.as_str()),
            };
            let mut rest: u64 = 0;
            for digit in digits.bytes().map(|b| u64::from(b.wrapping_sub(b'0'))) {
                rest = ((u128::from(rest) * 10 + u128::from(digit)) % u128::from(MODULUS)) as u64;
            }
            if negative {
                -(rest as i64)
            } else {
                rest as i64
            }
        }
        SubscriptionKey::Float(bits) => hash_double(f64::from_bits(*bits)),
        SubscriptionKey::Text(text) => {
            // FNV-1a: deterministic, like a fixed PYTHONHASHSEED.
            let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
            for byte in text.bytes() {
                hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
            }
            (hash >> 1) as i64
        }
    };
    let signed = if signed == -1 { -2 } else { signed };
    signed as u64
}

/// CPython's `_Py_HashDouble` of a finite double.
fn hash_double(v: f64) -> i64 {
    if !v.is_finite() || v == 0.0 {
        return 0;
    }
    let (mut m, mut e) = frexp(v);
    let sign: i64 = if m < 0.0 {
        m = -m;
        -1
    } else {
        1
    };
    let mut x: u64 = 0;
    while m != 0.0 {
        x = ((x << 28) & MODULUS) | (x >> (61 - 28));
        m *= 268_435_456.0;
        e -= 28;
        let y = m as u64;
        m -= y as f64;
        x += y;
        if x >= MODULUS {
            x -= MODULUS;
        }
    }
    let e = if e >= 0 {
        e % 61
    } else {
        61 - 1 - ((-1 - e) % 61)
    } as u32;
    x = ((x << e) & MODULUS) | (x >> (61 - e));
    (x as i64).wrapping_mul(sign)
}

/// `frexp`: `v = m * 2**e` with `0.5 <= |m| < 1`.
fn frexp(v: f64) -> (f64, i32) {
    let bits = v.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i32;
    if exponent == 0 {
        // Subnormal: scale up first.
        let (m, e) = frexp(v * 2f64.powi(54));
        return (m, e - 54);
    }
    let m = f64::from_bits((bits & !(0x7ff << 52)) | (1022 << 52));
    (m, exponent - 1022)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn order(members: &[i64], remove: &[i64], then: &[i64]) -> Vec<i64> {
        let mut set = PySet::default();
        let hash = |n: i64| python_hash(&SubscriptionKey::of(&json!(n)));
        for &n in members {
            set.insert(hash(n), n as u64);
        }
        for &n in remove {
            set.remove(n as u64);
        }
        for &n in then {
            set.insert(hash(n), n as u64);
        }
        set.order().map(|id| id as i64).collect()
    }

    #[test]
    fn orders_checked_with_python_3_11() {
        assert_eq!(order(&[30, 10, 20], &[], &[]), [10, 20, 30]);
        assert_eq!(order(&[230, 231], &[230], &[232]), [232, 231]);
        // F1.8: a re-added member takes the dummy it left (CPython reuses dummies).
        assert_eq!(order(&[233, 234], &[233], &[233]), [233, 234]);
        assert_eq!(order(&[7, 15], &[], &[]), [15, 7]);
        let forty: Vec<i64> = (800..840).collect();
        assert_eq!(order(&forty, &[], &[]), forty);
    }

    #[test]
    fn float_hash_is_pythons() {
        // hash(1.5) == 1152921504606846977, hash(-0.5) == -1152921504606846976 in CPython.
        assert_eq!(hash_double(1.5), 1_152_921_504_606_846_977);
        assert_eq!(hash_double(-0.5), -1_152_921_504_606_846_976);
        assert_eq!(
            python_hash(&SubscriptionKey::of(&json!(-1))),
            (-2i64) as u64
        );
    }
}
