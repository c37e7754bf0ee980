//! A retransmission buffer: the last `capacity` packets of a source, by extended sequence
//! number, in slots allocated once. The slots are one zeroed allocation (`calloc`, so the
//! kernel maps pages only as packets are stored): creating a publication costs no memset of
//! the whole ring, which matters when many participants join at once.

/// Largest packet a slot holds.
pub const SLOT: usize = 1500;

/// Ring of recent packets.
#[derive(Debug)]
pub struct RtxBuffer {
    /// `capacity × SLOT` bytes; slot `i` is `slots[i * SLOT..][..SLOT]`.
    slots: Box<[u8]>,
    lens: Box<[u16]>,
    seqs: Box<[u64]>,
    mask: usize,
}

impl RtxBuffer {
    /// A buffer of `capacity` packets (rounded up to a power of two; 0 disables it).
    pub fn new(capacity: usize) -> RtxBuffer {
        let cap = if capacity == 0 {
            0
        } else {
            capacity.next_power_of_two()
        };
        RtxBuffer {
            slots: vec![0u8; cap * SLOT].into_boxed_slice(),
            lens: vec![0; cap].into_boxed_slice(),
            seqs: vec![u64::MAX; cap].into_boxed_slice(),
            mask: cap.saturating_sub(1),
        }
    }

    /// Stores a packet (ignored when larger than a slot or the buffer is disabled).
    pub fn store(&mut self, ext_seq: u64, packet: &[u8]) {
        if self.slots.is_empty() || packet.len() > SLOT {
            return;
        }
        let i = ext_seq as usize & self.mask;
        self.slots[i * SLOT..][..packet.len()].copy_from_slice(packet);
        self.lens[i] = packet.len() as u16;
        self.seqs[i] = ext_seq;
    }

    /// The packet with this extended sequence number, if still buffered.
    pub fn get(&self, ext_seq: u64) -> Option<&[u8]> {
        if self.slots.is_empty() {
            return None;
        }
        let i = ext_seq as usize & self.mask;
        (self.seqs[i] == ext_seq).then(|| &self.slots[i * SLOT..][..self.lens[i] as usize])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_capacity_packets() {
        let mut b = RtxBuffer::new(4);
        for s in 10..20u64 {
            b.store(s, &[s as u8; 3]);
        }
        assert_eq!(b.get(19), Some(&[19u8; 3][..]));
        assert_eq!(b.get(16), Some(&[16u8; 3][..]));
        assert_eq!(b.get(15), None);
        assert_eq!(RtxBuffer::new(0).get(1), None);
    }
}
