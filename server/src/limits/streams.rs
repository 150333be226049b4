//! Open event streams, counted per owner and in total. A permit is held by the stream
//! itself and given back when the stream ends or its client goes away.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use super::ClientAddress;
use crate::owner::Owner;

#[derive(Clone, Debug)]
pub struct StreamPermits {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    max_total: usize,
    max_per_owner: usize,
    max_per_address: usize,
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    per_owner: HashMap<Owner, usize>,
    per_address: HashMap<IpAddr, usize>,
}

/// Why a stream was not opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StreamRefusal {
    #[error("you have {max} event streams open, the most allowed at once; close one first")]
    OwnerFull { max: usize },
    #[error(
        "your network address has {max} event streams open (everyone behind it together), the most allowed at once; close one first"
    )]
    AddressFull { max: usize },
    #[error("the server has {max} event streams open, the most it serves; try again shortly")]
    ServerFull { max: usize },
}

/// One open stream; dropping it closes the count.
#[derive(Debug)]
pub struct StreamPermit {
    permits: StreamPermits,
    owner: Owner,
    address: IpAddr,
}

impl StreamPermits {
    pub fn new(max_total: usize, max_per_owner: usize, max_per_address: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                max_total,
                max_per_owner,
                max_per_address,
                open: Mutex::new(Open::default()),
            }),
        }
    }

    /// A permit for one more stream of `owner` from `address`, if every limit allows it.
    pub fn acquire(
        &self,
        owner: &Owner,
        address: ClientAddress,
    ) -> Result<StreamPermit, StreamRefusal> {
        let address = address.counted();
        let mut open = self
            .inner
            .open
            .lock()
            .expect("the stream count is never poisoned");
        let mine = open.per_owner.get(owner).copied().unwrap_or(0);
        if mine >= self.inner.max_per_owner {
            return Err(StreamRefusal::OwnerFull {
                max: self.inner.max_per_owner,
            });
        }
        let theirs = open.per_address.get(&address).copied().unwrap_or(0);
        if theirs >= self.inner.max_per_address {
            return Err(StreamRefusal::AddressFull {
                max: self.inner.max_per_address,
            });
        }
        if open.total >= self.inner.max_total {
            return Err(StreamRefusal::ServerFull {
                max: self.inner.max_total,
            });
        }
        open.total += 1;
        open.per_owner.insert(owner.clone(), mine + 1);
        open.per_address.insert(address, theirs + 1);
        Ok(StreamPermit {
            permits: self.clone(),
            owner: owner.clone(),
            address,
        })
    }

    /// How many streams are open.
    pub fn open(&self) -> usize {
        self.inner.open.lock().map_or(0, |open| open.total)
    }

    /// How many streams `owner` has open, and how many they may.
    pub fn of(&self, owner: &Owner) -> (usize, usize) {
        let open = self
            .inner
            .open
            .lock()
            .map_or(0, |open| open.per_owner.get(owner).copied().unwrap_or(0));
        (open, self.inner.max_per_owner)
    }
}

impl Drop for StreamPermit {
    fn drop(&mut self) {
        let Ok(mut open) = self.permits.inner.open.lock() else {
            return;
        };
        open.total -= 1;
        if let Some(count) = open.per_owner.get_mut(&self.owner) {
            *count -= 1;
            if *count == 0 {
                open.per_owner.remove(&self.owner);
            }
        }
        if let Some(count) = open.per_address.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                open.per_address.remove(&self.address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permits_count_per_owner_per_address_and_in_total_and_come_back() {
        let permits = StreamPermits::new(3, 2, 3);
        let (alice, bob) = (Owner::new("alice"), Owner::new("bob"));
        let here = ClientAddress(IpAddr::from([192, 0, 2, 1]));
        let a1 = permits.acquire(&alice, here).unwrap();
        let _a2 = permits.acquire(&alice, here).unwrap();
        assert_eq!(
            permits.acquire(&alice, here).unwrap_err(),
            StreamRefusal::OwnerFull { max: 2 }
        );
        let _b1 = permits.acquire(&bob, here).unwrap();
        assert_eq!(
            permits.acquire(&bob, here).unwrap_err(),
            StreamRefusal::AddressFull { max: 3 }
        );
        assert_eq!(
            permits
                .acquire(&bob, ClientAddress(IpAddr::from([192, 0, 2, 2])))
                .unwrap_err(),
            StreamRefusal::ServerFull { max: 3 }
        );
        assert_eq!(permits.of(&alice), (2, 2));
        drop(a1);
        assert_eq!(permits.open(), 2);
        assert_eq!(permits.of(&alice), (1, 2));
        let _b2 = permits.acquire(&bob, here).unwrap();
        assert_eq!(permits.open(), 3);
    }
}
