//! The little DER that RSA keys need: the modulus and exponent of a PKCS#1 `RSAPublicKey` for
//! its JWK, and the PKCS#1 key inside a PKCS#8 `PrivateKeyInfo`, which is what jsonwebtoken signs
//! RSA with.

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const OCTET_STRING: u8 = 0x04;

/// The algorithm-specific key of a PKCS#8 `PrivateKeyInfo ::= SEQUENCE { version INTEGER,
/// algorithm AlgorithmIdentifier, privateKey OCTET STRING, ... }`: for RSA, the PKCS#1 DER.
pub(super) fn pkcs8_private_key(der: &[u8]) -> Option<&[u8]> {
    let (info, _) = element(der, SEQUENCE)?;
    let (_version, rest) = element(info, INTEGER)?;
    let (_algorithm, rest) = element(rest, SEQUENCE)?;
    let (private_key, _) = element(rest, OCTET_STRING)?;
    Some(private_key)
}

/// The modulus and public exponent of a PKCS#1 `RSAPublicKey ::= SEQUENCE { n INTEGER, e INTEGER }`,
/// big-endian without leading zeros, as a JWK wants them.
pub(super) fn rsa_public_key(der: &[u8]) -> Option<(&[u8], &[u8])> {
    let (sequence, rest) = element(der, SEQUENCE)?;
    if !rest.is_empty() {
        return None;
    }
    let (modulus, rest) = element(sequence, INTEGER)?;
    let (exponent, rest) = element(rest, INTEGER)?;
    if !rest.is_empty() {
        return None;
    }
    Some((unsigned(modulus)?, unsigned(exponent)?))
}

/// The contents of the element of type `tag` at the start of `input`, and what follows it.
fn element(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&first, rest) = input.split_first()?;
    if first != tag {
        return None;
    }
    let (&length, mut rest) = rest.split_first()?;
    let length = if length < 0x80 {
        usize::from(length)
    } else {
        let octets = usize::from(length & 0x7f);
        if octets == 0 || octets > 4 || rest.len() < octets {
            return None;
        }
        let (encoded, tail) = rest.split_at(octets);
        rest = tail;
        encoded.iter().fold(0_usize, |length, octet| (length << 8) | usize::from(*octet))
    };
    (rest.len() >= length).then(|| rest.split_at(length))
}

/// A non-negative INTEGER's magnitude, without the sign octet DER adds before a high bit.
fn unsigned(integer: &[u8]) -> Option<&[u8]> {
    match integer {
        [] => None,
        [first, ..] if first & 0x80 != 0 => None,
        [0, rest @ ..] if !rest.is_empty() => Some(rest),
        _ => Some(integer),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_components_of_a_short_key_are_read() {
        // SEQUENCE { INTEGER 0x00c3 (a high bit, so a sign octet), INTEGER 0x010001 }
        let der = [0x30, 0x09, 0x02, 0x02, 0x00, 0xc3, 0x02, 0x03, 0x01, 0x00, 0x01];
        assert_eq!(rsa_public_key(&der), Some((&[0xc3][..], &[1, 0, 1][..])));
    }

    #[test]
    fn long_form_lengths_are_read() {
        let modulus = [0x5a; 300];
        let mut der = vec![0x30, 0x82, 0x01, 0x35, 0x02, 0x82, 0x01, 0x2c];
        der.extend(modulus);
        der.extend([0x02, 0x03, 0x01, 0x00, 0x01]);
        assert_eq!(rsa_public_key(&der), Some((&modulus[..], &[1, 0, 1][..])));
    }

    #[test]
    fn truncated_or_trailing_input_is_refused() {
        let der = [0x30, 0x09, 0x02, 0x02, 0x00, 0xc3, 0x02, 0x03, 0x01, 0x00, 0x01];
        assert_eq!(rsa_public_key(&der[..10]), None);
        assert_eq!(rsa_public_key(&[&der[..], &[0]].concat()), None);
        assert_eq!(rsa_public_key(&[0x31, 0x00]), None);
        assert_eq!(rsa_public_key(&[]), None);
        // A negative modulus.
        assert_eq!(rsa_public_key(&[0x30, 0x06, 0x02, 0x01, 0x80, 0x02, 0x01, 0x03]), None);
    }

    #[test]
    fn the_key_inside_a_pkcs8_structure_is_found() {
        // SEQUENCE { INTEGER 0, SEQUENCE { OID }, OCTET STRING { 0xaa 0xbb } }
        let der = [0x30, 0x0c, 0x02, 0x01, 0x00, 0x30, 0x03, 0x06, 0x01, 0x2a, 0x04, 0x02, 0xaa, 0xbb];
        assert_eq!(pkcs8_private_key(&der), Some(&[0xaa, 0xbb][..]));
        assert_eq!(pkcs8_private_key(&der[..12]), None);
    }
}
