//! SRTP/SRTCP: arbitrary bytes into `unprotect_rtp` and `unprotect_rtcp` never panic and never
//! authenticate, for every profile with fixed keys; inputs that frame as RTP or RTCP survive a
//! protect → unprotect round trip, and a flipped byte makes them fail.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_rtp::RtpError;
use tessera_rtp::srtp::{SrtpContext, SrtpProfile, split_keying_material};

fuzz_target!(|data: &[u8]| {
    for profile in SrtpProfile::ALL {
        let km: Vec<u8> = (0..profile.keying_material_len())
            .map(|i| i as u8)
            .collect();
        let (keys, _) = split_keying_material(profile, &km).expect("fixed keying material");
        let mut rx = SrtpContext::new(&keys).expect("context");

        let mut a = data.to_vec();
        if let Ok(n) = rx.unprotect_rtp(&mut a) {
            panic!("random bytes authenticated as SRTP ({n} bytes)");
        }
        let mut b = data.to_vec();
        if let Ok(n) = rx.unprotect_rtcp(&mut b) {
            panic!("random bytes authenticated as SRTCP ({n} bytes)");
        }

        let mut tx = SrtpContext::new(&keys).expect("context");
        let mut buf = data.to_vec();
        buf.resize(data.len() + profile.rtcp_overhead(), 0);
        if let Ok(n) = tx.protect_rtp(&mut buf, data.len()) {
            let mut wire = buf[..n].to_vec();
            let m = rx.unprotect_rtp(&mut wire).expect("own packet unprotects");
            assert_eq!(&wire[..m], data);
            let mut bad = buf[..n].to_vec();
            let at = usize::from(data.first().copied().unwrap_or(0)) % n;
            bad[at] ^= 0x01;
            let mut rx2 = SrtpContext::new(&keys).expect("context");
            assert!(
                rx2.unprotect_rtp(&mut bad).is_err(),
                "a flipped bit went unnoticed"
            );
        }
        let mut buf = data.to_vec();
        buf.resize(data.len() + profile.rtcp_overhead(), 0);
        if let Ok(n) = tx.protect_rtcp(&mut buf, data.len()) {
            let mut wire = buf[..n].to_vec();
            let m = rx.unprotect_rtcp(&mut wire).expect("own packet unprotects");
            assert_eq!(&wire[..m], data);
            let mut again = buf[..n].to_vec();
            assert_eq!(rx.unprotect_rtcp(&mut again), Err(RtpError::Replayed));
        }
    }
});
