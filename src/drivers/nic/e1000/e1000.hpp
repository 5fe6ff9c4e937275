// Intel PRO/1000 driver: the 8254x family (82540EM/EP, 82544EI/GC, 82545EM/GM, 82546EB/GB copper; QEMU's
// `e1000`, VMware's e1000) and the 82574L (QEMU's and VMware's `e1000e`), with legacy receive descriptors,
// legacy/extended transmit descriptors, checksum offload, MSI or INTx, and zero-copy receive buffers.
//
// Receive: a pool of 2 KiB DMA buffers (twice the ring by default) feeds the ring; a filled buffer goes to
// the client as it is and the descriptor gets a fresh one. The client returns buffers with rx_release();
// when the pool runs dry the ring runs short and the device counts missed packets (never blocks).
// Transmit: one descriptor per segment (zero copy), a context descriptor ahead of frames that ask for
// checksum offload; tx_done(cookie) once the frame's last descriptor is written back.
//
// Interrupts (MSI on the 82574, INTx on the 8254x; ITR caps the rate): the handler reads (and so
// acknowledges) ICR, records the causes and raises one work item; the work handles link changes and runs a
// pass (poll()). A pass follows the NIC contract (src/net/nic.hpp): ring work first (reclaim finished
// transmits, harvest up to the budget of received frames, refill, tail write), then delivery to the client.
// If a pass used its whole receive budget, a loop poller keeps running passes until the ring is drained, so
// heavy receive does not starve timers and other work. The transmit tail is written once per loop iteration
// by an end-of-iteration hook. A one-second watchdog folds the statistics registers in, checks the ring heads
// and a stuck transmit ring, and resets the device when it finds nonsense. Without an interrupt the driver
// polls on a 1 ms timer.
//
// QEMU quirks handled: its e1000 does not clear the error statistics on read (detected per counter), takes
// no receive for a second after an RCTL write (harmless), and its e1000e takes the checksum options from
// every data descriptor, not the first (all carry them).
//
// Nothing the device writes is trusted: a written-back descriptor with a length of 0 or beyond its buffer,
// a frame over several descriptors, a head register out of range: counted (device_errors or
// rx_dropped_bad_frame), dropped, and the driver carries on, never indexing outside its rings.
//
// What differs between the kernel and host tests comes in through a pci::Env (BAR mapping, interrupt wiring,
// delays); scheduling is the real event loop in both. Host tests construct a Driver on a hand-made
// pci::Device with their own Env and drive it with poll(), handle_interrupt(), run_work(), watchdog() and
// loop::run_once() against a device model. The kernel's probe and registration are in e1000_kernel.cpp.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "drivers/bus/pci/pci.hpp"
#include "drivers/bus/pci/pci_env.hpp"
#include "drivers/bus/pci/pci_irq.hpp"
#include "kernel/dma.hpp"
#include "kernel/timer_queue.hpp"
#include "net/nic.hpp"

namespace skerry::e1000 {

// Register offsets (BAR0) and bits used by the driver, shared with the test model.
namespace reg {
inline constexpr uint32_t kCtrl = 0x0000, kStatus = 0x0008, kEecd = 0x0010, kEerd = 0x0014, kCtrlExt = 0x0018;
inline constexpr uint32_t kFcal = 0x0028, kFcah = 0x002C, kFct = 0x0030, kFcttv = 0x0170;
inline constexpr uint32_t kIcr = 0x00C0, kItr = 0x00C4, kIcs = 0x00C8, kIms = 0x00D0, kImc = 0x00D8;
inline constexpr uint32_t kRctl = 0x0100, kTctl = 0x0400, kTipg = 0x0410;
inline constexpr uint32_t kRdbal = 0x2800, kRdbah = 0x2804, kRdlen = 0x2808, kRdh = 0x2810, kRdt = 0x2818,
                          kRdtr = 0x2820, kRadv = 0x282C;
inline constexpr uint32_t kTdbal = 0x3800, kTdbah = 0x3804, kTdlen = 0x3808, kTdh = 0x3810, kTdt = 0x3818,
                          kTidv = 0x3820, kTadv = 0x382C;
inline constexpr uint32_t kRxcsum = 0x5000, kMta = 0x5200, kRal0 = 0x5400, kRah0 = 0x5404;
inline constexpr uint32_t kMtaWords = 128;

// Statistics (read to clear; the 64-bit octet counters clear when the high half is read).
inline constexpr uint32_t kCrcerrs = 0x4000, kAlgnerrc = 0x4004, kSymerrs = 0x4008, kRxerrc = 0x400C, kMpc = 0x4010,
                          kEcol = 0x4018, kLatecol = 0x4020, kColc = 0x4028, kRlec = 0x4040, kGprc = 0x4074,
                          kBprc = 0x4078, kMprc = 0x407C, kGptc = 0x4080, kGorcl = 0x4088, kGorch = 0x408C,
                          kGotcl = 0x4090, kGotch = 0x4094, kRnbc = 0x40A0, kRuc = 0x40A4, kRoc = 0x40AC,
                          kTorl = 0x40C0, kTorh = 0x40C4, kTotl = 0x40C8, kToth = 0x40CC, kTpr = 0x40D0, kTpt = 0x40D4,
                          kMptc = 0x40F0, kBptc = 0x40F4;

inline constexpr uint32_t kCtrlFd = 1u << 0, kCtrlLrst = 1u << 3, kCtrlAsde = 1u << 5, kCtrlSlu = 1u << 6,
                          kCtrlIlos = 1u << 7, kCtrlFrcspd = 1u << 11, kCtrlFrcdplx = 1u << 12, kCtrlRst = 1u << 26,
                          kCtrlRfce = 1u << 27, kCtrlTfce = 1u << 28, kCtrlVme = 1u << 30, kCtrlPhyRst = 1u << 31;
inline constexpr uint32_t kStatusFd = 1u << 0, kStatusLu = 1u << 1, kStatusSpeedShift = 6, kStatusSpeedMask = 3u << 6;
inline constexpr uint32_t kEecdAutoRd = 1u << 9;
// EERD: 8254x (82540/5/6): done bit 4, word address at bit 8; 82541/7 and 82574: done bit 1, address at bit 2.
inline constexpr uint32_t kEerdStart = 1u << 0, kEerdDone8254x = 1u << 4, kEerdAddrShift8254x = 8,
                          kEerdDone82574 = 1u << 1, kEerdAddrShift82574 = 2, kEerdDataShift = 16;
inline constexpr uint32_t kRahAv = 1u << 31;

// Interrupt causes (ICR/ICS/IMS/IMC).
inline constexpr uint32_t kIntTxdw = 1u << 0, kIntTxqe = 1u << 1, kIntLsc = 1u << 2, kIntRxseq = 1u << 3,
                          kIntRxdmt0 = 1u << 4, kIntRxo = 1u << 6, kIntRxt0 = 1u << 7,
                          kIntAsserted = 1u << 31;  // 82574: an interrupt was signalled

inline constexpr uint32_t kRctlEn = 1u << 1, kRctlSbp = 1u << 2, kRctlUpe = 1u << 3, kRctlMpe = 1u << 4,
                          kRctlLpe = 1u << 5, kRctlRdmtsMask = 3u << 8, kRctlMoMask = 3u << 12, kRctlBam = 1u << 15,
                          kRctlBsizeMask = 3u << 16, kRctlBsex = 1u << 25, kRctlSecrc = 1u << 26;
inline constexpr uint32_t kTctlEn = 1u << 1, kTctlPsp = 1u << 3, kTctlCtShift = 4, kTctlColdShift = 12,
                          kTctlColdMask = 0x3FFu << 12, kTctlRtlc = 1u << 24;
inline constexpr uint32_t kRxcsumIpofl = 1u << 8, kRxcsumTuofl = 1u << 9, kRxcsumPcsd = 1u << 13;
}  // namespace reg

// Descriptor formats (16 bytes, little endian), also used by the test model.
struct RxDesc {
    uint64_t addr;
    uint16_t length;
    uint16_t csum;
    uint8_t status;
    uint8_t errors;
    uint16_t special;
};
static_assert(sizeof(RxDesc) == 16);
inline constexpr uint8_t kRxStaDd = 1u << 0, kRxStaEop = 1u << 1, kRxStaIxsm = 1u << 2, kRxStaUdpcs = 1u << 4,
                         kRxStaTcpcs = 1u << 5, kRxStaIpcs = 1u << 6;
inline constexpr uint8_t kRxErrCe = 1u << 0, kRxErrSe = 1u << 1, kRxErrSeq = 1u << 2, kRxErrCxe = 1u << 4,
                         kRxErrTcpe = 1u << 5, kRxErrIpe = 1u << 6, kRxErrRxe = 1u << 7;

// Transmit descriptors as address + two words. Legacy data: lower = length | CSO << 16 | CMD << 24,
// upper = STA | CSS << 8 | special << 16. Extended data (DEXT, DTYP 1): lower = length | DTYP << 20 |
// DCMD << 24, upper = STA | POPTS << 8 | special << 16. Context (DEXT, DTYP 0): addr = IPCSS | IPCSO << 8 |
// IPCSE << 16 | TUCSS << 32 | TUCSO << 40 | TUCSE << 48, lower = PAYLEN | TUCMD << 24, upper = STA |
// HDRLEN << 8 | MSS << 16.
struct TxDesc {
    uint64_t addr;
    uint32_t lower;
    uint32_t upper;
};
static_assert(sizeof(TxDesc) == 16);
inline constexpr uint32_t kTxCmdEop = 1u << 24, kTxCmdIfcs = 1u << 25, kTxCmdTse = 1u << 26, kTxCmdRs = 1u << 27,
                          kTxCmdDext = 1u << 29, kTxCmdIde = 1u << 31;
inline constexpr uint32_t kTxDtypData = 1u << 20, kTxDtypContext = 0;
inline constexpr uint32_t kTxTucmdTcp = 1u << 24, kTxTucmdIp = 1u << 25;  // context: TCP (else UDP), IPv4
inline constexpr uint32_t kTxStaDd = 1u << 0, kTxStaEc = 1u << 1, kTxStaLc = 1u << 2, kTxStaTu = 1u << 3;
inline constexpr uint32_t kTxPoptsIxsm = 1u << 8, kTxPoptsTxsm = 1u << 9;  // in `upper`

// Which register layout and quirks a device id has.
enum class Family : uint8_t {
    I8254x,  // 82540/82545/82546: EERD with done bit 4
    I82544,  // 82544: no EERD (the MAC comes from RAL/RAH, loaded from the EEPROM at reset)
    I82574,  // 82574L: EERD with done bit 1, ICR cleared by writing it back too
};

struct ModelInfo {
    uint16_t device_id;
    const char* name;  // "82540EM"
    Family family;
    bool dual_port;  // 82546: function 1's address is the EEPROM's with the last bit flipped
};
// The supported device (vendor 0x8086) with this id, nullptr when it is not one of ours.
const ModelInfo* find_model(uint16_t vendor, uint16_t device_id);

struct Options {
    bool use_interrupts = true;  // attach MSI (preferred) or INTx through the Env; false: a timer polls
    uint16_t rx_ring = 256;      // descriptors, multiple of 8, 8..kMaxRing
    uint16_t tx_ring = 256;
    uint16_t rx_buffers = 0;      // receive buffer pool; 0 = twice rx_ring (at most kMaxRxBuffers)
    uint32_t itr_per_sec = 8000;  // interrupt moderation ceiling; 0 = none
    size_t poll_budget = 64;      // frames per pass from the interrupt work and the poller (at most kMaxBudget)
};

// The device's statistics registers, accumulated (they clear when read).
struct DeviceStats {
    uint64_t crcerrs, algnerrc, symerrs, rxerrc, mpc, ecol, latecol, colc, rlec, rnbc, ruc, roc;
    uint64_t gprc, bprc, mprc, gptc, gorc, gotc, tor, tot, tpr, tpt, mptc, bptc;
};

class Driver final : public net::NicDriver {
public:
    static constexpr size_t kMaxRing = 1024;
    static constexpr size_t kMaxRxBuffers = 2048;
    static constexpr uint32_t kBufferSize = 2048;
    static constexpr uint32_t kMaxRxFrame = 1522;  // 1518 (with a VLAN tag) + an FCS a device failed to strip
    static constexpr uint32_t kMaxTxFrame = 1514;
    static constexpr size_t kMaxMulticast = 64;
    static constexpr size_t kMaxBudget = 256;

    // Off: not initialised. Ready: the device is reset and its MAC known (init). Running: rings built,
    // delivering to the client (start). Failed: a recovery reset did not work; the device stays off.
    enum class State : uint8_t { Off, Ready, Running, Failed };

    Driver() = default;
    ~Driver() override;
    Driver(const Driver&) = delete;
    Driver& operator=(const Driver&) = delete;

    // Takes over the device: maps BAR0, resets it, reads the MAC (RAL/RAH, else the EEPROM). False (and
    // logged) when the device is unusable. The rings are built by start().
    bool init(const pci::Device& dev, pci::Env& env, const Options& options = Options{});
    // init() on a new driver (nullptr on failure; the kernel's heap).
    static Driver* create(const pci::Device& dev, pci::Env& env, const Options& options = Options{});

    // net::NicDriver
    const char* name() const override { return name_; }
    const uint8_t* mac() const override { return mac_; }
    uint16_t mtu() const override { return 1500; }
    bool link_up() const override { return link_up_; }
    uint32_t link_speed_mbps() const override { return link_up_ ? speed_ : 0; }
    uint32_t offloads() const override;
    // Builds the rings, enables receive/transmit and interrupts; reports the link (link_changed(true) when
    // it is already up) and logs the one-line summary.
    bool start(net::NicClient& client) override;
    net::TxStatus transmit(const net::TxFrame& frame) override;
    void rx_release(void* buffer) override;
    bool add_multicast(const uint8_t mac[6]) override;
    bool remove_multicast(const uint8_t mac[6]) override;
    net::NicCounters counters() const override;

    // One pass (see the top of this file): receive descriptors handled (<= budget) + transmits completed.
    size_t poll(size_t budget);
    // The end-of-iteration hook's body: writes the transmit tail if frames were queued since. True if it did.
    bool flush_tx();

    // The interrupt path, split so tests can drive it: handle_interrupt() is the handler's body (reads ICR,
    // records causes, raises the work once); run_work() is that work (link, poll, backlog).
    void handle_interrupt();
    void run_work();
    // The watchdog (once a second in the kernel): statistics, head registers, stuck transmit ring.
    void watchdog();

    DeviceStats device_stats() const;
    const ModelInfo& model() const { return *model_; }
    const pci::Irq& irq() const { return irq_; }
    State state() const { return state_; }
    bool started() const { return state_ == State::Running; }
    bool rx_backlog() const { return rx_backlog_; }  // the last poll used its whole budget
    size_t rx_buffers_free() const { return free_count_; }
    size_t rx_ring_filled() const { return rx_filled_; }
    size_t tx_ring_used() const { return tx_used_; }
    uint32_t resets() const { return resets_; }  // recoveries after the device misbehaved

private:
    enum class BufState : uint8_t { Free, Ring, Client };
    struct Multicast {
        uint8_t mac[6];
        uint16_t refs;
    };
    struct TxContext {
        uint64_t addr;
        uint32_t lower;
        bool valid;
    };

    uint32_t rd(uint32_t off) const;
    void wr(uint32_t off, uint32_t v) const;
    void delay(uint64_t us) const;
    bool map_registers();
    bool reset_device();
    bool read_eeprom(uint8_t word, uint16_t& out) const;
    bool read_mac();
    void program_filters();
    void write_mta(uint32_t word);
    bool alloc_memory();
    void free_memory();
    void program_rings();
    void enable_device();
    void recover(const char* why);
    void update_link(bool initial = false);
    void deliver();
    uint32_t read_causes();
    void schedule_work();
    void accumulate_stats() const;
    uint64_t error_counter(uint32_t off, unsigned slot) const;
    void log_summary();

    // Receive.
    void* buffer_virt(uint16_t index) const;
    uint64_t buffer_phys(uint16_t index) const;
    bool buffer_index(const void* p, uint16_t& index) const;
    void recycle(uint16_t index);
    void refill();
    size_t rx_harvest(size_t budget);
    net::RxChecksum rx_checksum(const uint8_t* frame, uint32_t len, uint8_t status, uint8_t errors) const;

    // Transmit.
    size_t tx_reclaim();
    void tx_drop_all();
    bool tx_context(const net::TxFrame& f, uint32_t offload, TxContext& ctx, uint32_t& popts) const;
    size_t tx_free() const { return tx_ring_size_ - 1 - tx_used_; }

    uint32_t mta_index(const uint8_t mac[6]) const;
    void mta_set(uint32_t index, bool on);

    static void on_interrupt(interrupts::Frame& frame, void* context);
    static void on_work(void* context);
    static bool on_poller(void* context);
    static bool on_iteration_end(void* context);
    static void on_timer(void* context);

    pci::Device dev_{};
    pci::Env* env_ = nullptr;
    const ModelInfo* model_ = nullptr;
    Options opt_{};
    uint64_t regs_ = 0;
    char name_[40] = {};
    char prefix_[24] = {};  // "e1000 00:03.0"
    uint8_t mac_[6] = {};
    State state_ = State::Off;
    net::NicClient* client_ = nullptr;
    bool hooked_ = false;  // poller and end-of-iteration hook registered with the loop
    pci::Irq irq_{};
    Timer timer_{};
    uint32_t ticks_ = 0;

    bool link_up_ = false, full_duplex_ = false;
    bool link_report_ = false;       // link_up_ changed since the client last heard: told in the next delivery
    bool tctl_half_duplex_ = false;  // TCTL.COLD holds the half-duplex distance
    uint32_t speed_ = 0;

    // Interrupt handler -> work (touched with __atomic builtins: the handler interrupts the loop).
    bool interrupts_on_ = false;  // an interrupt is attached and the causes are unmasked
    uint32_t pending_causes_ = 0;
    bool work_queued_ = false;
    bool rx_backlog_ = false;

    // Receive ring and buffer pool.
    dma::Region rx_ring_mem_{};
    volatile RxDesc* rx_ = nullptr;
    uint16_t rx_ring_size_ = 0;
    uint16_t rx_next_ = 0;        // oldest descriptor given to the device
    uint16_t rx_tail_ = 0;        // next descriptor to give (RDT)
    uint16_t rx_filled_ = 0;      // descriptors the device owns: [rx_next_, rx_tail_)
    bool rx_discarding_ = false;  // dropping the rest of a frame spread over descriptors
    uint16_t rx_slot_buf_[kMaxRing] = {};
    static constexpr size_t kChunkBytes = 64 * 1024;
    static constexpr size_t kBuffersPerChunk = kChunkBytes / kBufferSize;
    static constexpr size_t kMaxChunks = kMaxRxBuffers / kBuffersPerChunk;
    dma::Region chunks_[kMaxChunks] = {};
    size_t chunk_count_ = 0;
    uint16_t buffer_count_ = 0;
    BufState buf_state_[kMaxRxBuffers] = {};
    uint16_t free_list_[kMaxRxBuffers] = {};
    uint16_t free_count_ = 0;
    struct Harvested {
        uint16_t index;  // buffer
        uint16_t len;
        net::RxChecksum checksum;
    };
    Harvested rx_batch_[kMaxBudget] = {};  // a pass's received frames, delivered after the ring work
    size_t rx_batch_count_ = 0;

    // Transmit ring.
    dma::Region tx_ring_mem_{};
    volatile TxDesc* tx_ = nullptr;
    uint16_t tx_ring_size_ = 0;
    uint16_t tx_tail_ = 0;   // next free descriptor (TDT)
    uint16_t tx_clean_ = 0;  // first descriptor of the oldest frame in flight
    uint16_t tx_used_ = 0;
    bool tx_blocked_ = false;           // transmit() said Full: tell the client when there is room
    uint16_t tdt_written_ = 0;          // the tail the device was last told (the end-of-iteration hook moves it)
    void* tx_done_[2 * kMaxRing] = {};  // reclaimed frames whose tx_done waits for the next delivery
    size_t tx_done_count_ = 0;
    void* tx_cookie_[kMaxRing] = {};
    uint8_t tx_ndesc_[kMaxRing] = {};  // on a frame's first descriptor: how many it has (0 = not a start)
    TxContext tx_ctx_{};               // the context the device holds
    uint32_t tx_completed_ = 0;        // frames completed, ever (the watchdog's progress mark)
    uint32_t wd_tx_completed_ = 0;
    bool wd_tx_pending_ = false;
    uint8_t wd_tx_stalls_ = 0;

    Multicast mcast_[kMaxMulticast] = {};
    uint32_t mta_[reg::kMtaWords] = {};  // what the device's multicast table holds

    mutable net::NicCounters counters_{};
    mutable DeviceStats stats_{};
    static constexpr unsigned kErrorCounters = 10;
    mutable uint32_t cumulative_ = 0;  // error counters found not to clear on read (QEMU's e1000)
    mutable uint32_t counter_last_[kErrorCounters] = {};
    uint32_t resets_ = 0;
};

}  // namespace skerry::e1000
